package influxwriter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

func TestWriteReadsBackExactValues(t *testing.T) {
	in := startInflux(t)
	forEachAPI(t, func(t *testing.T, api string) {
		testWriteReadsBackExactValues(t, in, api)
	})
}

func testWriteReadsBackExactValues(t *testing.T, in *testenv.Influx, api string) {
	for _, gzip := range []bool{true, false} {
		t.Run(fmt.Sprintf("gzip=%t", gzip), func(t *testing.T) {
			w := newTestWriter(t, in.URL, "", in.Bucket(), func(c *Config) { c.Gzip, c.API = gzip, api })
			m := fmt.Sprintf("env_%s_gzip_%t", api, gzip)
			recs := [][]byte{
				fmt.Appendf(nil, "%s,device=pi1 temp=21.5,n=42i,ok=true,note=\"a b\" 1764000000123456789\n", m),
				// Two lines in one record, the last without its newline.
				fmt.Appendf(nil, "%s,device=pi2 temp=-0.25,n=-7i,ok=false,note=\"x\" 1764000000000000001\n%s,device=pi2 temp=1e-9,n=0i,ok=true,note=\"\" 1764000000000000002", m, m),
			}
			rejected, err := w.Write(t.Context(), recs)
			if err != nil || len(rejected) != 0 {
				t.Fatalf("Write = %v, %v", rejected, err)
			}
			series := in.Query(t, fmt.Sprintf(`SELECT device, temp, n, ok, note FROM %s ORDER BY time`, m))
			if len(series) != 1 {
				t.Fatalf("series = %+v", series)
			}
			want := [][]any{
				{json.Number("1764000000000000001"), "pi2", json.Number("-0.25"), json.Number("-7"), false, "x"},
				{json.Number("1764000000000000002"), "pi2", json.Number("1e-9"), json.Number("0"), true, ""},
				{json.Number("1764000000123456789"), "pi1", json.Number("21.5"), json.Number("42"), true, "a b"},
			}
			if got := fmt.Sprint(series[0].Values); got != fmt.Sprint(want) {
				t.Fatalf("rows\n got %v\nwant %v", got, want)
			}
			if n := metricSum(t, w.metrics.points); n != 3 {
				t.Fatalf("points_written_total = %v, want 3", n)
			}
			if !w.Up() {
				t.Fatal("Up() = false after a successful write")
			}
		})
	}
}

func TestWriteRidesOutAnOutage(t *testing.T) {
	forEachAPI(t, testWriteRidesOutAnOutage)
}

func testWriteRidesOutAnOutage(t *testing.T, api string) {
	in := startInflux(t)
	w := newTestWriter(t, in.URL, "", in.Bucket(), func(c *Config) { c.API = api })
	in.Stop(t)

	recs := lines("outage", 500, 1764000000000000000)
	done := writeAsync(t.Context(), w, recs)
	waitFor(t, "retries while InfluxDB is down", func() bool {
		return metricSum(t, w.metrics.retries, "reason", "network") >= 2
	})
	if w.Up() {
		t.Fatal("Up() = true while InfluxDB is stopped")
	}
	in.Start(t)

	r := receive(t, done)
	if r.err != nil || len(r.rejected) != 0 {
		t.Fatalf("Write = %v, %v", r.rejected, r.err)
	}
	if n := in.Count(t, "outage", "v"); n != len(recs) {
		t.Fatalf("stored %d points, want %d", n, len(recs))
	}
	if !w.Up() {
		t.Fatal("Up() = false after InfluxDB came back")
	}
}

// InfluxDB 1.8 applies max-body-size only to uncompressed bodies (it reads a
// gzip body past the limit), so this runs with gzip off to get its 413.
func TestWriteSplitsBatchesTooLarge(t *testing.T) {
	in := startInflux(t, testenv.WithMaxBodySize(4096))
	forEachAPI(t, func(t *testing.T, api string) {
		testWriteSplitsBatchesTooLarge(t, in, api)
	})
}

func testWriteSplitsBatchesTooLarge(t *testing.T, in *testenv.Influx, api string) {
	w := newTestWriter(t, in.URL, "", in.Bucket(), func(c *Config) { c.Gzip, c.API = false, api })
	m := "big_" + api
	recs := lines(m, 2000, 1764000000000000000) // ~80 kB
	rejected, err := w.Write(t.Context(), recs)
	if err != nil || len(rejected) != 0 {
		t.Fatalf("Write = %v, %v", joinReasons(rejected), err)
	}
	if n := in.Count(t, m, "v"); n != len(recs) {
		t.Fatalf("stored %d points, want %d", n, len(recs))
	}
	if n := metricSum(t, w.metrics.requests, "code", "413"); n == 0 {
		t.Fatal("no request was answered 413: the test did not exercise splitting")
	}
}

func TestWriteRejectsOnlyMalformedRecords(t *testing.T) {
	in := startInflux(t)
	// v is an integer field in the shard every test point falls in (field
	// types are per shard): a float or string v conflicts.
	in.WriteLines(t, "bad,device=seed v=1i 1\n")
	forEachAPI(t, func(t *testing.T, api string) {
		testWriteRejectsOnlyMalformedRecords(t, in, api)
	})
}

func testWriteRejectsOnlyMalformedRecords(t *testing.T, in *testenv.Influx, api string) {
	tests := []struct {
		name    string
		n       int
		bad     map[int]string // index -> the record put there, %d its timestamp
		wantMsg string         // InfluxDB's words, in every reason
	}{
		{"type conflict in the middle", 1000, map[int]string{500: `bad,device=x v="text" %d` + "\n"}, "field type conflict"},
		{"unparseable line", 300, map[int]string{17: "bad,device=x v= %d\n"}, "unable to parse"},
		{"several at the edges", 257, map[int]string{
			0:   "bad,device=x v=1.5 %d\n",
			1:   "bad v %d\n",
			256: "bad,device=x v=t %d\n",
		}, ""},
		{"every record bad", 3, map[int]string{0: "x %d\n", 1: "y %d\n", 2: "z %d\n"}, "unable to parse"},
	}
	for ti, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newTestWriter(t, in.URL, "", in.Bucket(), func(c *Config) { c.API = api })
			// Each API writes its own timestamps, so that neither
			// overwrites the points the other counts.
			base := int64(ti+1)*1e12 + apiOffset(api)
			recs := lines("bad", tc.n, base)
			for i, r := range tc.bad {
				recs[i] = fmt.Appendf(nil, r, base+int64(i))
			}
			before := in.Count(t, "bad", "v")
			rejected, err := w.Write(t.Context(), recs)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if len(rejected) != len(tc.bad) {
				t.Fatalf("rejected %d records, want %d:\n%s", len(rejected), len(tc.bad), joinReasons(rejected))
			}
			t.Logf("rejected:\n%s", joinReasons(rejected))
			for _, r := range rejected {
				if _, ok := tc.bad[r.Index]; !ok {
					t.Errorf("record %d rejected but it is good: %s", r.Index, r.Reason)
				}
				if !strings.Contains(r.Reason, tc.wantMsg) || r.Reason == "" {
					t.Errorf("record %d reason %q lacks InfluxDB's %q", r.Index, r.Reason, tc.wantMsg)
				}
			}
			if got, want := in.Count(t, "bad", "v")-before, tc.n-len(tc.bad); got != want {
				t.Fatalf("stored %d new points, want %d", got, want)
			}
		})
	}
}

func TestWriteRetriesConfigurationProblems(t *testing.T) {
	in := startInflux(t, testenv.WithAuth("admin", "right"))
	forEachAPI(t, func(t *testing.T, api string) {
		testWriteRetriesConfigurationProblems(t, in, api)
	})
}

func testWriteRetriesConfigurationProblems(t *testing.T, in *testenv.Influx, api string) {
	tests := []struct {
		name, token, bucket string
		wantStored          bool
		wantReason          string
	}{
		{"right password", "admin:right", in.Bucket(), true, ""},
		{"wrong password", "admin:wrong", in.Bucket(), false, "unauthorized"},
		{"no token", "", in.Bucket(), false, "unauthorized"},
		{"missing database", "admin:right", "nodb/autogen", false, "not_found"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newTestWriter(t, in.URL, tc.token, tc.bucket, func(c *Config) { c.API = api })
			m := fmt.Sprintf("auth_%s_%d", api, i)
			recs := lines(m, 10, 1764000000000000000)
			if tc.wantStored {
				rejected, err := w.Write(t.Context(), recs)
				if err != nil || len(rejected) != 0 {
					t.Fatalf("Write = %v, %v", rejected, err)
				}
				if n := in.Count(t, m, "v"); n != len(recs) {
					t.Fatalf("stored %d, want %d", n, len(recs))
				}
				return
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := writeAsync(ctx, w, recs)
			waitFor(t, tc.wantReason+" retries", func() bool {
				return metricSum(t, w.metrics.retries, "reason", tc.wantReason) >= 3
			})
			if w.Up() {
				t.Error("Up() = true while InfluxDB refuses the writes")
			}
			cancel()
			r := receive(t, done)
			if !errors.Is(r.err, context.Canceled) || r.rejected != nil {
				t.Fatalf("Write = %v, %v; want no rejects and context.Canceled", r.rejected, r.err)
			}
			if n := in.Count(t, m, "v"); n != 0 {
				t.Fatalf("stored %d points with a bad configuration", n)
			}
		})
	}
}

func TestConcurrentWritesAllStored(t *testing.T) {
	in := startInflux(t)
	forEachAPI(t, func(t *testing.T, api string) {
		testConcurrentWritesAllStored(t, in, api)
	})
}

func testConcurrentWritesAllStored(t *testing.T, in *testenv.Influx, api string) {
	w := newTestWriter(t, in.URL, "", in.Bucket(), func(c *Config) { c.API = api })
	m := "conc_" + api
	const writers, per = 4, 2500
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			rejected, err := w.Write(t.Context(), lines(m, per, int64(g)*1e12))
			if err == nil && len(rejected) > 0 {
				err = fmt.Errorf("rejected %v", rejected)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := in.Count(t, m, "v"); n != writers*per {
		t.Fatalf("stored %d, want %d", n, writers*per)
	}
}

func TestWriteAfterClose(t *testing.T) {
	w := newTestWriter(t, "http://127.0.0.1:1", "", "db/rp", nil)
	w.Close()
	if _, err := w.Write(t.Context(), lines("x", 1, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}
