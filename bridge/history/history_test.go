package history_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bridge/history"
	"github.com/mqflux/mqflux/bridge/influx"
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
