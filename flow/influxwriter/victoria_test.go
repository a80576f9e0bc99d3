package influxwriter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// msLines makes n one-line records of measurement m, a millisecond apart
// from base (VictoriaMetrics keeps milliseconds, so closer points of one
// series would be one sample).
func msLines(m string, n int, base time.Time) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		ts := base.Add(time.Duration(i) * time.Millisecond).UnixNano()
		recs[i] = fmt.Appendf(nil, "%s,device=pi%d v=%di,t=%d.25 %d\n", m, i%7, i, i, ts)
	}
	return recs
}

func newVictoriaWriter(t *testing.T, v *testenv.Victoria, gzip bool) *Writer {
	return newTestWriter(t, v.URL, "", "telemetry", func(c *Config) { c.API, c.Name, c.Gzip = APIv1, "victoria", gzip })
}

// TestV1StoresInVictoriaMetrics: every record of a batch is one sample,
// counted exactly, and resending the batch (at least once) adds none.
func TestV1StoresInVictoriaMetrics(t *testing.T) {
	v := testenv.StartVictoria(t)
	for _, gzip := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%t", gzip), func(t *testing.T) {
			w := newVictoriaWriter(t, v, gzip)
			m := fmt.Sprintf("vm_gzip_%t", gzip)
			recs := msLines(m, 1000, time.Now().Add(-time.Hour))
			for range 2 {
				rejected, err := w.Write(t.Context(), recs)
				if err != nil || len(rejected) != 0 {
					t.Fatalf("Write = %v, %v", joinReasons(rejected), err)
				}
			}
			if n := v.Count(t, m, "v"); n != len(recs) {
				t.Fatalf("VictoriaMetrics holds %d samples of v, want %d", n, len(recs))
			}
			if n := v.Count(t, m, "t"); n != len(recs) {
				t.Fatalf("VictoriaMetrics holds %d samples of t, want %d", n, len(recs))
			}
			if n := metricSum(t, w.metrics.points, "output", "victoria"); n != float64(2*len(recs)) {
				t.Fatalf("points_written_total{output=victoria} = %v, want %d", n, 2*len(recs))
			}
		})
	}
}

// TestV1VictoriaMetricsRefusesABadLine: VictoriaMetrics refuses a whole
// request for one unparseable line (400); the writer finds that line,
// rejects it with VictoriaMetrics' words and stores the rest.
func TestV1VictoriaMetricsRefusesABadLine(t *testing.T) {
	v := testenv.StartVictoria(t)
	w := newVictoriaWriter(t, v, true)
	recs := msLines("vmbad", 300, time.Now().Add(-time.Hour))
	recs[17] = []byte("vmbad,device=x v= 1\n")
	recs[299] = []byte("vmbad v\n")
	rejected, err := w.Write(t.Context(), recs)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if len(rejected) != 2 || rejected[0].Index != 17 || rejected[1].Index != 299 {
		t.Fatalf("rejected:\n%s\nwant records 17 and 299", joinReasons(rejected))
	}
	for _, r := range rejected {
		if !strings.Contains(r.Reason, "cannot process influx line protocol data") {
			t.Errorf("record %d reason %q lacks VictoriaMetrics' words", r.Index, r.Reason)
		}
	}
	if n := v.Count(t, "vmbad", "v"); n != 298 {
		t.Fatalf("VictoriaMetrics holds %d samples, want 298", n)
	}
}

// TestV1RidesOutAVictoriaMetricsOutage: a write while VictoriaMetrics is
// down is retried until it is back, and then every record is there once.
func TestV1RidesOutAVictoriaMetricsOutage(t *testing.T) {
	v := testenv.StartVictoria(t)
	w := newVictoriaWriter(t, v, true)
	v.Stop(t)
	recs := msLines("vmoutage", 500, time.Now().Add(-time.Hour))
	done := writeAsync(t.Context(), w, recs)
	waitFor(t, "retries while VictoriaMetrics is down", func() bool {
		return metricSum(t, w.metrics.retries, "reason", "network") >= 2
	})
	if w.Up() {
		t.Fatal("Up() = true while VictoriaMetrics is stopped")
	}
	v.Start(t)
	if r := receive(t, done); r.err != nil || len(r.rejected) != 0 {
		t.Fatalf("Write = %v, %v", r.rejected, r.err)
	}
	if n := v.Count(t, "vmoutage", "v"); n != len(recs) {
		t.Fatalf("VictoriaMetrics holds %d samples, want %d", n, len(recs))
	}
}
