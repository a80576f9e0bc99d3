package influxwriter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// TestWriteHonoursRetryAfter: with a backoff of at most 10ms, only the
// server's Retry-After can hold the second attempt back a whole second.
func TestWriteHonoursRetryAfter(t *testing.T) {
	for _, api := range APIs() {
		t.Run("api="+api, func(t *testing.T) { testWriteHonoursRetryAfter(t, api) })
	}
}

func testWriteHonoursRetryAfter(t *testing.T, api string) {
	var mu sync.Mutex
	var arrivals []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		n := len(arrivals)
		mu.Unlock()
		if n == 1 {
			rw.Header().Set("Retry-After", "1")
			rw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	w := newTestWriter(t, srv.URL, "", bucketFor(api), func(c *Config) {
		c.MinBackoff, c.MaxBackoff, c.API = time.Millisecond, 10*time.Millisecond, api
	})
	rejected, err := w.Write(t.Context(), lines("m", 3, 1))
	if err != nil || len(rejected) != 0 {
		t.Fatalf("Write = %v, %v", rejected, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 2 {
		t.Fatalf("%d requests, want 2", len(arrivals))
	}
	if gap := arrivals[1].Sub(arrivals[0]); gap < time.Second {
		t.Fatalf("retried after %s, before the 1s Retry-After", gap)
	}
	if n := metricSum(t, w.metrics.retries, "reason", "throttled"); n != 1 {
		t.Fatalf("retries{throttled} = %v, want 1", n)
	}
}

// TestWriteCancel: backoffs and timeouts of an hour, so only ctx can end
// the Write, whether it is waiting to retry or waiting for an answer.
func TestWriteCancel(t *testing.T) {
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(hang)
	refusing := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer refusing.Close()

	tests := []struct {
		name, url string
	}{
		{"waiting for an answer", hanging.URL},
		{"backing off", refusing.URL},
	}
	for _, api := range APIs() {
		for _, tc := range tests {
			t.Run("api="+api+"/"+tc.name, func(t *testing.T) {
				testWriteCancel(t, api, tc.url, tc.url == hanging.URL)
			})
		}
	}
}

func testWriteCancel(t *testing.T, api, url string, hangs bool) {
	w := newTestWriter(t, url, "", bucketFor(api), func(c *Config) {
		c.Timeout, c.MinBackoff, c.MaxBackoff, c.API = time.Hour, time.Hour, time.Hour, api
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := writeAsync(ctx, w, lines("m", 10, 1))
	waitFor(t, "the first request", func() bool {
		return metricSum(t, w.metrics.requests) >= 1 || hangs
	})
	time.Sleep(50 * time.Millisecond) // let the request reach the handler or the backoff start
	cancel()
	r := receive(t, done)
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Write after cancel = %v, %v; want context.Canceled", r.rejected, r.err)
	}
}

func TestClassify(t *testing.T) {
	status := func(code int, retryAfter uint) error {
		e := http2.NewError(nil)
		e.StatusCode, e.RetryAfter, e.Message = code, retryAfter, "msg"
		return e
	}
	tests := []struct {
		name       string
		err        error
		want       outcome
		reason     string
		retryAfter time.Duration
	}{
		{"bad point", status(400, 0), malformed, "", 0},
		{"unprocessable", status(422, 0), malformed, "", 0},
		{"too large", status(413, 0), tooLarge, "", 0},
		{"throttled", status(429, 7), retry, "throttled", 7 * time.Second},
		{"unavailable", status(503, 2), retry, "server_error", 2 * time.Second},
		{"internal", status(500, 0), retry, "server_error", 0},
		{"unauthorized", status(401, 0), retry, "unauthorized", 0},
		{"forbidden", status(403, 0), retry, "unauthorized", 0},
		{"no database", status(404, 0), retry, "not_found", 0},
		{"teapot", status(418, 0), retry, "unexpected_status", 0},
		{"network", http2.NewError(errors.New("connection refused")), retry, "network", 0},
		{"timeout", http2.NewError(context.DeadlineExceeded), retry, "timeout", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if got.outcome != tc.want || got.reason != tc.reason || got.retryAfter != tc.retryAfter {
				t.Fatalf("classify = %+v, want outcome %d reason %q retryAfter %s", got, tc.want, tc.reason, tc.retryAfter)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	w := &Writer{cfg: Config{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{0, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 0, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		{4, 0, 500 * time.Millisecond, time.Second},
		{1000, 0, 500 * time.Millisecond, time.Second},
		{0, 5 * time.Second, 5 * time.Second, 5500 * time.Millisecond},
	}
	for _, tc := range tests {
		for range 200 {
			if d := w.delay(tc.attempt, tc.retryAfter); d < tc.lo || d > tc.hi {
				t.Fatalf("delay(%d, %s) = %s, want within [%s, %s]", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no scheme", Config{URL: "127.0.0.1:8086", Bucket: "db/rp"}},
		{"no host", Config{URL: "http://", Bucket: "db/rp"}},
		{"no bucket", Config{URL: "http://127.0.0.1:8086"}},
		{"negative timeout", Config{URL: "http://127.0.0.1:8086", Bucket: "db/rp", Timeout: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, nil); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

// Probe marks a writer up or down before any write, whatever the API.
func TestProbe(t *testing.T) {
	for _, api := range APIs() {
		t.Run("api="+api, func(t *testing.T) { testProbe(t, api) })
	}
}

func testProbe(t *testing.T, api string) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	cfg := DefaultConfig(ts.URL, bucketFor(api))
	cfg.API = api
	up, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if up.Up() {
		t.Fatal("up before any answer")
	}
	up.Probe(context.Background())
	if !up.Up() {
		t.Error("a server answering /ping is not up")
	}
	ts.Close()
	down, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	down.Probe(context.Background())
	if down.Up() {
		t.Error("a closed server is up")
	}
}

func TestRetryAfterHeader(t *testing.T) {
	tests := []struct {
		header string
		lo, hi time.Duration
	}{
		{"", 0, 0},
		{"7", 7 * time.Second, 7 * time.Second},
		{"-3", 0, 0},
		{"soon", 0, 0},
		{time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 58 * time.Minute, time.Hour},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.header); got < tc.lo || got > tc.hi {
			t.Errorf("retryAfter(%q) = %s, want within [%s, %s]", tc.header, got, tc.lo, tc.hi)
		}
	}
}

func TestV1Message(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		body   string
		want   string
	}{
		{"influxdb json", http.Header{}, `{"error":"unable to parse 'x': invalid field format"}`, "unable to parse 'x': invalid field format"},
		{"header only", http.Header{"X-Influxdb-Error": {"database not found"}}, "", "database not found"},
		{"plain text", http.Header{}, "cannot process influx line protocol data\n", "cannot process influx line protocol data"},
		{"nothing", http.Header{}, "  ", "no message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := v1Message(tc.header, []byte(tc.body)); got != tc.want {
				t.Fatalf("v1Message = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLastErrorOutlivesRecovery: the newest failure, with InfluxDB's own
// words, is still reported once writes succeed again, for health views.
func TestLastErrorOutlivesRecovery(t *testing.T) {
	for _, api := range APIs() {
		t.Run("api="+api, func(t *testing.T) { testLastErrorOutlivesRecovery(t, api) })
	}
}

func testLastErrorOutlivesRecovery(t *testing.T, api string) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			http.Error(rw, `{"error":"engine: cache maximum memory size exceeded"}`, http.StatusServiceUnavailable)
			return
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	w := newTestWriter(t, srv.URL, "", bucketFor(api), func(c *Config) {
		c.MinBackoff, c.MaxBackoff, c.API = time.Millisecond, 10*time.Millisecond, api
	})
	if msg, at := w.LastError(); msg != "" || !at.IsZero() {
		t.Fatalf("LastError before any write = %q, %v; want none", msg, at)
	}
	if _, err := w.Write(t.Context(), lines("m", 3, 1)); err != nil {
		t.Fatal(err)
	}
	msg, at := w.LastError()
	if !strings.Contains(msg, "cache maximum memory size exceeded") || at.IsZero() {
		t.Fatalf("LastError after a 503 then success = %q at %v; want InfluxDB's answer and a time", msg, at)
	}
	if !w.Up() {
		t.Fatal("writer not up after a successful write")
	}
}
