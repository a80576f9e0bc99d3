package history_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/history"
	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/internal/testenv"
)

func TestIntervalKeepsPointsBounded(t *testing.T) {
	for _, tc := range []struct {
		rng  string
		want string
	}{{"1h", "4s"}, {"24h", "1m27s"}, {"7d", "10m7s"}} {
		s, err := history.Reader{Endpoint: influx.Endpoint{URL: "http://127.0.0.1:1"}}.Read(context.Background(),
			history.Query{Device: "d", Measurement: "m", Field: "f", Range: tc.rng})
		if err == nil {
			t.Fatalf("%s: a closed port answered: %+v", tc.rng, s)
		}
		stmt := history.Statement(history.Query{Device: "d", Measurement: "m", Field: "f"}, rangeOf(tc.rng), mustParse(t, tc.want))
		if !strings.Contains(stmt, fmt.Sprintf("GROUP BY time(%ds)", int(mustParse(t, tc.want).Seconds()))) {
			t.Errorf("%s: statement %q", tc.rng, stmt)
		}
		if n := rangeOf(tc.rng) / mustParse(t, tc.want); n+2 > history.MaxPoints {
			t.Errorf("%s: %d buckets of %s exceed %d points", tc.rng, n, tc.want, history.MaxPoints)
		}
	}
}

func rangeOf(r string) time.Duration {
	return map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}[r]
}

func mustParse(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestInvalidQueries(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    history.Query
	}{
		{"no range", history.Query{Device: "d", Measurement: "m", Field: "f"}},
		{"unknown range", history.Query{Device: "d", Measurement: "m", Field: "f", Range: "1y"}},
		{"no device", history.Query{Measurement: "m", Field: "f", Range: "1h"}},
		{"no field", history.Query{Device: "d", Measurement: "m", Range: "1h"}},
		{"newline", history.Query{Device: "d\n", Measurement: "m", Field: "f", Range: "1h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := history.Reader{Endpoint: influx.Endpoint{URL: "http://127.0.0.1:1"}}.Read(context.Background(), tc.q)
			if !errors.Is(err, history.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestReadFromInflux stores known points, some under hostile names, and
// reads each series back: the names stay data, never InfluxQL.
func TestReadFromInflux(t *testing.T) {
	in := testenv.StartInflux(t)
	now := time.Now().Truncate(time.Minute)
	var lines []string
	for i := range 10 {
		ts := now.Add(-time.Duration(i) * time.Minute).UnixNano()
		lines = append(lines,
			fmt.Sprintf("climate,device=pi-1 temp=%d %d", 20+i, ts),
			fmt.Sprintf("climate,device=pi-2 temp=99 %d", ts),
			fmt.Sprintf(`we"ird\,m,device=x'\ OR\ 1\=1 f"x=%d %d`, i, ts),
		)
	}
	// A week-old point falls inside 7d only.
	lines = append(lines, fmt.Sprintf("climate,device=pi-1 temp=5 %d", now.Add(-5*24*time.Hour).UnixNano()))
	in.WriteLines(t, strings.Join(lines, "\n"))
	r := history.Reader{Endpoint: influx.Endpoint{URL: in.URL, Bucket: in.Bucket(), Token: in.Token()}}

	for _, tc := range []struct {
		name string
		q    history.Query
		want int     // points
		sum  float64 // of the means
	}{
		{"hour", history.Query{Device: "pi-1", Measurement: "climate", Field: "temp", Range: "1h"}, 10, 245},
		{"week", history.Query{Device: "pi-1", Measurement: "climate", Field: "temp", Range: "7d"}, -1, 250},
		{"other device", history.Query{Device: "pi-2", Measurement: "climate", Field: "temp", Range: "1h"}, 10, 990},
		{"hostile names", history.Query{Device: "x' OR 1=1", Measurement: `we"ird,m`, Field: `f"x`, Range: "1h"}, 10, 45},
		{"injection finds nothing", history.Query{Device: "pi-1' OR device='pi-2", Measurement: "climate", Field: "temp", Range: "1h"}, 0, 0},
		{"backslashes", history.Query{Device: `pi-1\`, Measurement: `climate\`, Field: `temp\`, Range: "1h"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := r.Read(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want >= 0 && len(s.Points) != tc.want {
				t.Fatalf("%d points, want %d: %v", len(s.Points), tc.want, s.Points)
			}
			sum := 0.0
			for i, p := range s.Points {
				sum += p[1]
				if i > 0 && p[0] <= s.Points[i-1][0] {
					t.Fatalf("points out of order: %v", s.Points)
				}
			}
			if tc.name == "week" {
				// Buckets of ~10 minutes may merge minutes; the old point
				// must still count.
				if len(s.Points) < 2 || s.Points[0][1] != 5 {
					t.Fatalf("week misses the 5-day-old point: %v", s.Points)
				}
				return
			}
			if sum != tc.sum {
				t.Fatalf("sum of means = %v, want %v: %v", sum, tc.sum, s.Points)
			}
		})
	}
}

func TestInfluxErrorIsReported(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithAuth("admin", "secret"))
	r := history.Reader{Endpoint: influx.Endpoint{URL: in.URL, Bucket: in.Bucket(), Token: "admin:wrong"}}
	_, err := r.Read(context.Background(), history.Query{Device: "d", Measurement: "m", Field: "f", Range: "1h"})
	if err == nil || errors.Is(err, history.ErrInvalid) {
		t.Fatalf("wrong credentials: err = %v, want InfluxDB's refusal", err)
	}
}

// A range with few readings answers the readings themselves, with the
// range's statistics over the readings; a busy one answers means in
// buckets while the statistics still count every reading; an empty range
// answers no points and the last reading ever; the first reading ever
// tells where the device's data starts.
func TestRawStatsFirstLast(t *testing.T) {
	in := testenv.StartInflux(t)
	now := time.Now().Truncate(time.Second)
	var lines []string
	// quiet: 3 readings in the last 10 minutes (first ever 9 min ago).
	for i, v := range []float64{4, 1, 7} {
		lines = append(lines, fmt.Sprintf("climate,device=quiet temp=%v %d", v, now.Add(-time.Duration(9-3*i)*time.Minute).UnixNano()))
	}
	// busy: 1,500 readings a second apart, all inside the last hour.
	for i := range 1500 {
		lines = append(lines, fmt.Sprintf("climate,device=busy temp=%d %d", i%10, now.Add(-time.Duration(1500-i)*time.Second).UnixNano()))
	}
	// stale: one reading two days ago.
	stale := now.Add(-48 * time.Hour)
	lines = append(lines, fmt.Sprintf("climate,device=stale temp=3.5 %d", stale.UnixNano()))
	in.WriteLines(t, strings.Join(lines, "\n"))
	r := history.Reader{Endpoint: influx.Endpoint{URL: in.URL, Bucket: in.Bucket(), Token: in.Token()}}
	read := func(device, rng string) history.Series {
		t.Helper()
		s, err := r.Read(context.Background(), history.Query{Device: device, Measurement: "climate", Field: "temp", Range: rng})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	q := read("quiet", "15m")
	if !q.Raw || len(q.Points) != 3 || q.Points[0][1] != 4 || q.Points[2][1] != 7 {
		t.Errorf("quiet: raw %v, points %v; want its 3 readings", q.Raw, q.Points)
	}
	if st := q.Stats; st == nil || st.Count != 3 || st.Min != 1 || st.Max != 7 || st.Mean != 4 || st.Last[1] != 7 {
		t.Errorf("quiet: stats %+v, want count 3, min 1, mean 4, max 7, last 7", q.Stats)
	}
	if q.First == nil || int64(q.First[0]) != now.Add(-9*time.Minute).UnixMilli() || q.First[0] < float64(q.From) {
		t.Errorf("quiet: first %v, want 9 minutes ago, inside the range from %d", q.First, q.From)
	}

	b := read("busy", "1h")
	if b.Raw || b.Interval != "4s" || len(b.Points) > history.MaxPoints || len(b.Points) < 300 {
		t.Errorf("busy: raw %v, interval %q, %d points; want means in 4s buckets", b.Raw, b.Interval, len(b.Points))
	}
	if st := b.Stats; st == nil || st.Count != 1500 || st.Min != 0 || st.Max != 9 || st.Mean != 4.5 {
		t.Errorf("busy: stats %+v, want every reading counted: 1500, 0, 4.5, 9", b.Stats)
	}
	// The range ends at the query's now: each second the test takes on a
	// busy machine moves one reading out of it.
	if b15 := read("busy", "15m"); !b15.Raw || len(b15.Points) < 870 || len(b15.Points) > 900 {
		t.Errorf("busy over 15m: raw %v, %d points; want its ~900 readings", b15.Raw, len(b15.Points))
	}

	s := read("stale", "24h")
	if len(s.Points) != 0 || s.Stats != nil || s.Last == nil || int64(s.Last[0]) != stale.UnixMilli() || s.Last[1] != 3.5 {
		t.Errorf("stale over 24h: points %v, stats %+v, last %v; want none, and the reading of two days ago as last", s.Points, s.Stats, s.Last)
	}
	if s30 := read("stale", "30d"); len(s30.Points) != 1 || !s30.Raw {
		t.Errorf("stale over 30d: %v, want its one reading", s30.Points)
	}
	if n := read("nobody", "6h"); n.First != nil || n.Last != nil || n.Stats != nil || len(n.Points) != 0 {
		t.Errorf("a device with no readings: %+v", n)
	}
}
