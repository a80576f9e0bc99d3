package shim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/bridge/mapping"
	"github.com/mqflux/mqflux/bridge/shim"
)

// topicsOf gives readings the topics of a mapping with these templates.
func topicsOf(t *testing.T, status string, templates ...string) shim.Topics {
	t.Helper()
	c := mapping.DefaultConfig()
	c.Topics = nil
	for _, tpl := range templates {
		c.Topics = append(c.Topics, mapping.TopicRule{Template: tpl})
	}
	c.StatusTemplate = status
	m, err := mapping.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m.ReadingTopic
}

// Readings follow the mapping's layout, whatever it is.
func TestReadingsFollowTheLayout(t *testing.T) {
	sink := &recordingSink{}
	h := newHarnessTopics(t, testConfig(), sink, topicsOf(t, "site/{device}/status", "site/{device}/{measurement}"))
	got := do(t, newRequest(t, http.MethodPost, h.srv.URL+"/v1/log-temperature", strings.NewReader(`{"temperature": 21.5}`), logHeader))
	if got.status != http.StatusOK {
		t.Fatalf("POST /v1/log-temperature = %d %q", got.status, got.body)
	}
	got = do(t, newRequest(t, http.MethodPost, h.srv.URL+"/ingest", strings.NewReader(goodLine+"\n"), ingHeader))
	if got.status/100 != 2 {
		t.Fatalf("POST /ingest = %d %q", got.status, got.body)
	}
	msgs := sink.messages()
	want := []string{"site/" + nodeID + "/temperature", "site/lada-1/speed"}
	if len(msgs) != len(want) {
		t.Fatalf("sink got %d messages %+v, want %d", len(msgs), msgs, len(want))
	}
	for i, w := range want {
		if msgs[i].topic != w {
			t.Errorf("reading %d went to %q, want %q", i, msgs[i].topic, w)
		}
	}
}

// A reading the layout has no topic for is refused, never published where
// the mapping would not read it.
func TestReadingWithoutTopicRefused(t *testing.T) {
	sink := &recordingSink{}
	// "status" is the status template's level: a reading there would be
	// taken for presence.
	h := newHarnessTopics(t, testConfig(), sink, topicsOf(t, "site/{device}/status", "site/{device}/{measurement}"))
	got := do(t, newRequest(t, http.MethodPost, h.srv.URL+"/ingest",
		strings.NewReader(`{"sensor": "status", "value": 1, "timestamp": "2012-04-23T18:25:43.511Z"}`+"\n"), ingHeader))
	if got.status != http.StatusBadRequest || !strings.Contains(got.body, "line 1: no template in mapping.topics") {
		t.Fatalf("POST /ingest of sensor status = %d %q, want 400 naming the missing template", got.status, got.body)
	}
	h = newHarnessTopics(t, testConfig(), sink, topicsOf(t, "", "farm/{site}/{measurement}"))
	got = do(t, newRequest(t, http.MethodPost, h.srv.URL+"/v1/log-temperature", strings.NewReader(`{"temperature": 21.5}`), logHeader))
	if got.status != http.StatusBadRequest || !strings.Contains(got.body, "no template in mapping.topics") {
		t.Fatalf("POST /v1/log-temperature = %d %q, want 400 naming the missing template", got.status, got.body)
	}
	if n := len(sink.messages()); n != 0 {
		t.Fatalf("the sink got %d readings without a topic", n)
	}
	if v := h.counter(t, "mqflux_http_rejected_total", map[string]string{"endpoint": "/v1/log-temperature", "reason": "no_topic"}); v != 1 {
		t.Errorf("rejected{reason=no_topic} = %v, want 1", v)
	}
}
