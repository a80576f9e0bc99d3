package influxwriter

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// newTestWriter writes to in's bucket with short backoffs; edit tweaks the
// config before New.
func newTestWriter(t *testing.T, url, token, bucket string, edit func(*Config)) *Writer {
	t.Helper()
	cfg := DefaultConfig(url, bucket)
	cfg.Token = token
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 200*time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	w, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// realInfluxAPIs are the write APIs a real InfluxDB 1.8 serves; v3 has its
// own contract tests (v3_test.go).
func realInfluxAPIs() []string { return []string{APIv2, APIv1} }

// forEachAPI runs test once for each API InfluxDB 1.8 serves.
func forEachAPI(t *testing.T, test func(t *testing.T, api string)) {
	for _, api := range realInfluxAPIs() {
		t.Run("api="+api, func(t *testing.T) { test(t, api) })
	}
}

// apiOffset keeps the timestamps of one API's points apart from another's
// in tests that share a database.
func apiOffset(api string) int64 {
	for i, a := range realInfluxAPIs() {
		if a == api {
			return int64(i) * 5e11
		}
	}
	return 0
}

// bucketFor is a valid bucket for api, for tests against stand-in servers.
func bucketFor(api string) string {
	if api == APIv3 {
		return "db"
	}
	return "db/rp"
}

// startInflux starts a server without Flux: these tests only write and use
// InfluxQL, and Flux costs seconds of CPU at every start.
func startInflux(t *testing.T, opts ...testenv.InfluxOption) *testenv.Influx {
	return testenv.StartInflux(t, append([]testenv.InfluxOption{testenv.WithoutFlux()}, opts...)...)
}

// lines makes n one-line records of measurement m with field v = i and
// timestamps base+i.
func lines(m string, n int, base int64) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = fmt.Appendf(nil, "%s,device=pi%d v=%di %d\n", m, i%7, i, base+int64(i))
	}
	return recs
}

// metricSum adds up every sample of a collector whose labels include the
// given name=value pairs (all samples when none are given).
func metricSum(t *testing.T, c prometheus.Collector, labels ...string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatalf("read metric: %v", err)
		}
		if !hasLabels(&d, labels) {
			continue
		}
		switch {
		case d.Counter != nil:
			sum += d.Counter.GetValue()
		case d.Gauge != nil:
			sum += d.Gauge.GetValue()
		case d.Histogram != nil:
			sum += float64(d.Histogram.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(d *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range d.Label {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, what, cond)
}

type writeResult struct {
	rejected []Rejected
	err      error
}

// writeAsync runs Write in a goroutine and hands back its result.
func writeAsync(ctx context.Context, w *Writer, recs [][]byte) <-chan writeResult {
	ch := make(chan writeResult, 1)
	go func() {
		r, err := w.Write(ctx, recs)
		ch <- writeResult{r, err}
	}()
	return ch
}

// receive waits for an async Write with a generous deadline.
func receive(t *testing.T, ch <-chan writeResult) writeResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("Write did not return")
		return writeResult{}
	}
}

func joinReasons(rs []Rejected) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%d: %s\n", r.Index, r.Reason)
	}
	return b.String()
}

// The answer readers the tests of this package check live in package
// influx; these name them as the tests do.
func retryAfter(v string) time.Duration           { return influx.RetryAfter(v) }
func v1Message(h http.Header, body []byte) string { return influx.Message(APIv1, h, body) }
func v3Message(h http.Header, body []byte) string { return influx.Message(APIv3, h, body) }
