package shim_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/pipeline"
	"github.com/mqflux/mqflux/flow/spool"
)

// nowhere is an output that is never written to: these tests stop at the
// spool.
type nowhere struct{}

func (nowhere) Write(context.Context, [][]byte) ([]output.Rejected, error) { return nil, nil }

// topics records the topic each spooled reading was filed under.
type topics struct {
	observe.Base
	mu   sync.Mutex
	seen []string
}

func (*topics) Name() string { return "topics" }

func (o *topics) Observe(r *observe.Reading) {
	o.mu.Lock()
	o.seen = append(o.seen, r.Topic)
	o.mu.Unlock()
}

// layoutPipeline is a real pipeline whose mapping has these templates; the
// shim's readings reach it as values and it files them under its layout.
func layoutPipeline(t *testing.T, status string, templates ...string) (*pipeline.Pipeline, *topics) {
	t.Helper()
	c := mapping.DefaultConfig()
	c.Topics = nil
	for _, tpl := range templates {
		c.Topics = append(c.Topics, mapping.TopicRule{Template: tpl})
	}
	c.StatusTemplate = status
	obs := &topics{}
	p, err := pipeline.Open(pipeline.Options{
		DataDir:   t.TempDir(),
		Mapping:   c,
		Spool:     spool.Options{MaxBytes: 1 << 30},
		Outputs:   []pipeline.OutputSpec{{Output: nowhere{}, Required: true}},
		Observers: []observe.Observer{obs},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, obs
}

// Readings follow the mapping's layout, whatever it is.
func TestReadingsFollowTheLayout(t *testing.T) {
	p, obs := layoutPipeline(t, "site/{device}/status", "site/{device}/{measurement}")
	h := newHarness(t, testConfig(), p.Sink("http"))
	got := do(t, newRequest(t, http.MethodPost, h.srv.URL+"/v1/log-temperature", strings.NewReader(`{"temperature": 21.5}`), logHeader))
	if got.status != http.StatusOK {
		t.Fatalf("POST /v1/log-temperature = %d %q", got.status, got.body)
	}
	got = do(t, newRequest(t, http.MethodPost, h.srv.URL+"/ingest", strings.NewReader(goodLine+"\n"), ingHeader))
	if got.status/100 != 2 {
		t.Fatalf("POST /ingest = %d %q", got.status, got.body)
	}
	if err := p.Stop(0); err != nil { // observers finish their queues
		t.Fatal(err)
	}
	want := []string{"site/" + nodeID + "/temperature", "site/lada-1/speed"}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if strings.Join(obs.seen, " ") != strings.Join(want, " ") {
		t.Errorf("readings filed under %q, want %q", obs.seen, want)
	}
}

// A reading the layout has no topic for is refused, never filed where the
// mapping would not read it.
func TestReadingWithoutTopicRefused(t *testing.T) {
	// "status" is the status template's level: a reading there would be
	// taken for presence.
	p, obs := layoutPipeline(t, "site/{device}/status", "site/{device}/{measurement}")
	h := newHarness(t, testConfig(), p.Sink("http"))
	got := do(t, newRequest(t, http.MethodPost, h.srv.URL+"/ingest",
		strings.NewReader(`{"sensor": "status", "value": 1, "timestamp": "2012-04-23T18:25:43.511Z"}`+"\n"), ingHeader))
	if got.status != http.StatusBadRequest || !strings.Contains(got.body, "line 1: no template in mapping.topics") {
		t.Fatalf("POST /ingest of sensor status = %d %q, want 400 naming the missing template", got.status, got.body)
	}
	p2, obs2 := layoutPipeline(t, "", "farm/{site}/{measurement}")
	h = newHarness(t, testConfig(), p2.Sink("http"))
	got = do(t, newRequest(t, http.MethodPost, h.srv.URL+"/v1/log-temperature", strings.NewReader(`{"temperature": 21.5}`), logHeader))
	// /v1/log-* answers a refused reading with the original API's body;
	// the reason is in the metric (checked below) and the log.
	if got.status != http.StatusBadRequest {
		t.Fatalf("POST /v1/log-temperature = %d %q, want 400", got.status, got.body)
	}
	for _, pp := range []*pipeline.Pipeline{p, p2} {
		if err := pp.Stop(0); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(obs.seen) + len(obs2.seen); n != 0 {
		t.Fatalf("%d readings without a topic were spooled", n)
	}
	if v := h.counter(t, "mqflux_http_rejected_total", map[string]string{"endpoint": "/v1/log-temperature", "reason": "no_topic"}); v != 1 {
		t.Errorf("rejected{reason=no_topic} = %v, want 1", v)
	}
}
