package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

type latestReading struct {
	Device      string         `json:"device"`
	Measurement string         `json:"measurement"`
	Fields      map[string]any `json:"fields"`
	Time        string         `json:"time"`
	Received    string         `json:"received"`
}

func getLatest(t *testing.T, srv *testenv.Server, query string) []latestReading {
	t.Helper()
	code, body := srv.HTTPGet(t, "/v1/latest"+query)
	if code != http.StatusOK {
		t.Fatalf("GET /v1/latest%s: %d %s", query, code, body)
	}
	var doc struct {
		Readings []latestReading `json:"readings"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("GET /v1/latest%s: %v\n%s", query, err, body)
	}
	return doc.Readings
}

func pub(t *testing.T, srv *testenv.Server, l testenv.Login, topic, msg string) {
	t.Helper()
	if out, err := testenv.Pub(t, srv.MQTT, l, topic, msg, "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub %s %s: %v\n%s", topic, msg, err, out)
	}
}

// Readings from mosquitto_pub and from the legacy HTTP API show up in
// /v1/latest with their values and their own times; a reading older than
// the one held, published later (an offline buffer replayed), does not
// replace it.
func TestLatestReadings(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	before := time.Now().UTC().Truncate(time.Second)

	pub(t, srv, testenv.DemoGateway, "devices/pi-kitchen/sensors/temperature", `{"value": 21.5, "time": "2026-11-23T18:00:00.123456789Z"}`)
	pub(t, srv, testenv.DemoGateway, "devices/pi-kitchen/sensors/temperature", `{"value": 19.0, "time": "2026-11-23T17:00:00Z"}`)
	pub(t, srv, testenv.DemoGateway, "devices/pi-attic/sensors/climate", `{"temperature": 12.5, "humidity": 80, "time": 1795456800}`)
	pub(t, srv, testenv.DemoDevice, "devices/demo-device/sensors/pressure", `1013.25`)

	node := "node-legacy-1"
	body := `{"temperature": 23.75, "timestamp": "2025-03-18T10:00:00.123+00:00", "status": "ok"}`
	code, answer := rawPost(t, srv.HTTP, fmt.Sprintf("POST /v1/log-temperature HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: application/json\r\nX-authorization: %s\r\nX-node-id: %s\r\nContent-Length: %d\r\n\r\n%s",
		srv.HTTP, demoKey, node, len(body), body))
	if code != http.StatusOK {
		t.Fatalf("legacy POST: %d %s", code, answer)
	}

	all := getLatest(t, srv, "")
	var keys []string
	byKey := map[string]latestReading{}
	for _, r := range all {
		keys = append(keys, r.Device+"/"+r.Measurement)
		byKey[r.Device+"/"+r.Measurement] = r
	}
	// Presence messages (devices/demo-device/status) are readings too.
	for _, k := range keys {
		if strings.HasSuffix(k, "/device_status") {
			delete(byKey, k)
		}
	}
	wantOrder := []string{"demo-device/pressure", node + "/temperature", "pi-attic/climate", "pi-kitchen/temperature"}
	var order []string
	for _, k := range keys {
		if _, ok := byKey[k]; ok {
			order = append(order, k)
		}
	}
	if strings.Join(order, " ") != strings.Join(wantOrder, " ") {
		t.Fatalf("series %v, want %v", keys, wantOrder)
	}

	check := func(key, wantTime string, fields map[string]any) {
		t.Helper()
		r := byKey[key]
		if wantTime != "" && r.Time != wantTime {
			t.Errorf("%s: time %s, want %s", key, r.Time, wantTime)
		}
		for k, v := range fields {
			if r.Fields[k] != v {
				t.Errorf("%s: field %s = %#v, want %#v (all: %v)", key, k, r.Fields[k], v, r.Fields)
			}
		}
		rec, err := time.Parse(time.RFC3339, r.Received)
		if err != nil || rec.Before(before) || rec.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: received %q (%v), want a time of this test", key, r.Received, err)
		}
	}
	check("pi-kitchen/temperature", "2026-11-23T18:00:00.123456789Z", map[string]any{"value": 21.5})
	check("pi-attic/climate", "2026-11-23T18:00:00Z", map[string]any{"temperature": 12.5, "humidity": 80.0})
	check(node+"/temperature", "2025-03-18T10:00:00.123Z", map[string]any{"value": 23.75, "status": "ok"})
	check("demo-device/pressure", "", map[string]any{"value": 1013.25})
	if p := byKey["demo-device/pressure"]; p.Time == "" || !strings.HasPrefix(p.Time, p.Received[:len("2006-01-02T15:04:05")]) {
		t.Errorf("a reading without a time is stamped on receipt: time %s, received %s", p.Time, p.Received)
	}

	if got := getLatest(t, srv, "?device=pi-kitchen"); len(got) != 1 || got[0].Measurement != "temperature" {
		t.Errorf("?device=pi-kitchen: %+v", got)
	}
	if got := getLatest(t, srv, "?measurement=temperature"); len(got) != 2 || got[0].Device != node || got[1].Device != "pi-kitchen" {
		t.Errorf("?measurement=temperature: %+v", got)
	}
	if got := getLatest(t, srv, "?device=pi-attic&measurement=temperature"); len(got) != 0 {
		t.Errorf("?device=pi-attic&measurement=temperature: %+v", got)
	}

	// A newer reading replaces the one held.
	pub(t, srv, testenv.DemoGateway, "devices/pi-kitchen/sensors/temperature", `{"value": 22, "time": "2026-11-23T18:00:01Z"}`)
	if got := getLatest(t, srv, "?device=pi-kitchen"); len(got) != 1 || got[0].Fields["value"] != 22.0 || got[0].Time != "2026-11-23T18:00:01Z" {
		t.Errorf("after a newer reading: %+v", got)
	}
}

// An SSE client sees a reading published after it connected, only the
// readings its filter asks for, and the stream ends when the server stops.
// It outlives http.read_timeout, which bounds requests, not streams.
func TestLiveStream(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_HTTP_READ_TIMEOUT=1s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.HTTP+"/v1/stream?device=pi-live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /v1/stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() (string, bool) {
		select {
		case l, ok := <-lines:
			return l, ok
		case <-time.After(30 * time.Second):
			t.Fatal("nothing on the stream for 30s")
			return "", false
		}
	}
	// The opening comment: the subscription is in place.
	if l, _ := next(); !strings.HasPrefix(l, ":") {
		t.Fatalf("stream opens with %q", l)
	}
	time.Sleep(1500 * time.Millisecond) // past http.read_timeout

	pub(t, srv, testenv.DemoGateway, "devices/pi-other/sensors/temperature", `{"value": 1, "time": "2026-11-23T18:00:00Z"}`)
	pub(t, srv, testenv.DemoGateway, "devices/pi-live/sensors/temperature", `{"value": 21.5, "time": "2026-11-23T18:00:00.5Z"}`)

	var event, data string
	for data == "" {
		l, ok := next()
		if !ok {
			t.Fatal("stream ended before a reading")
		}
		switch {
		case strings.HasPrefix(l, "event: "):
			event = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: "):
			data = strings.TrimPrefix(l, "data: ")
		}
	}
	if event != "reading" {
		t.Errorf("event %q, want reading", event)
	}
	var r latestReading
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		t.Fatalf("data %q: %v", data, err)
	}
	if r.Device != "pi-live" || r.Measurement != "temperature" || r.Fields["value"] != 21.5 || r.Time != "2026-11-23T18:00:00.5Z" {
		t.Errorf("streamed reading %+v", r)
	}

	srv.Stop(t)
	for {
		l, ok := next()
		if !ok {
			break
		}
		if strings.Contains(l, "pi-other") {
			t.Errorf("filtered stream carried %q", l)
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
}
