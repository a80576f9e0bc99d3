package pgwriter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/history"
	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/testenv"
)

// As the first output, the postgres output answers /v1/history in SQL:
// one device's means per bucket over the range, oldest first; another
// device's rows, older rows and rows without the field are left out.
func TestHistoryFromSQL(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	now := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	var lines []string
	for i := 0; i < 4; i++ { // two per 4 s bucket of the 1h range: 10, 20 then 30, 40
		ts := now.Add(time.Duration(i/2)*time.Minute + time.Duration(i%2)*time.Second)
		lines = append(lines, fmt.Sprintf(`temp,device=pi value=%d %d`, 10*(i+1), ts.UnixNano()))
	}
	lines = append(lines,
		fmt.Sprintf(`temp,device=other value=1000 %d`, now.UnixNano()),
		fmt.Sprintf(`temp,device=pi value=1000 %d`, now.Add(-2*time.Hour).UnixNano()),
		fmt.Sprintf(`temp,device=pi label="x" %d`, now.Add(30*time.Second).UnixNano()),
	)
	if rej := write(t, w, records(lines...)); len(rej) != 0 {
		t.Fatal(rej)
	}
	cfg := w.cfg
	src := output.Config(&cfg).(output.Historian).HistorySource()
	ctx := context.Background()
	s, err := src.Read(ctx, history.Query{Device: "pi", Measurement: "temp", Field: "value", Range: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	// Four readings in the range: the readings themselves, with the
	// range's statistics and the field's first (two hours ago) and last.
	want := []history.Point{
		{float64(now.UnixMilli()), 10}, {float64(now.Add(time.Second).UnixMilli()), 20},
		{float64(now.Add(time.Minute).UnixMilli()), 30}, {float64(now.Add(time.Minute + time.Second).UnixMilli()), 40},
	}
	if fmt.Sprint(s.Points) != fmt.Sprint(want) || !s.Raw || s.Interval != "" {
		t.Errorf("points %v (raw %v, every %q), want the readings %v", s.Points, s.Raw, s.Interval, want)
	}
	last := history.Point{float64(now.Add(time.Minute + time.Second).UnixMilli()), 40}
	if st := s.Stats; st == nil || st.Count != 4 || st.Min != 10 || st.Mean != 25 || st.Max != 40 || st.Last != last {
		t.Errorf("stats %+v, want 4 readings 10..40, mean 25, last %v", s.Stats, last)
	}
	if first := (history.Point{float64(now.Add(-2 * time.Hour).UnixMilli()), 1000}); s.First == nil || *s.First != first || s.Last == nil || *s.Last != last {
		t.Errorf("first %v last %v, want %v and %v", s.First, s.Last, first, last)
	}
	if s.To-s.From != time.Hour.Milliseconds() {
		t.Errorf("range from %d to %d, want an hour", s.From, s.To)
	}
	// More readings than history.MaxPoints: their means per 4 s bucket.
	var busy []string
	for i := 0; i < history.MaxPoints+200; i++ {
		busy = append(busy, fmt.Sprintf(`temp,device=busy value=%d %d`, i%2, now.Add(-time.Duration(i+1)*time.Second).UnixNano()))
	}
	if rej := write(t, w, records(busy...)); len(rej) != 0 {
		t.Fatal(rej)
	}
	s, err = src.Read(ctx, history.Query{Device: "busy", Measurement: "temp", Field: "value", Range: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Raw || s.Interval != "4s" || len(s.Points) != 300 || s.Points[0][1] != 0.5 || s.Stats == nil || s.Stats.Count != int64(history.MaxPoints+200) {
		t.Errorf("busy: raw %v every %q, %d points (first %v), stats %+v; want 300 means of 0.5 every 4s over 1200 readings",
			s.Raw, s.Interval, len(s.Points), s.Points[:min(len(s.Points), 2)], s.Stats)
	}
	for _, q := range []history.Query{
		{Device: "pi", Measurement: "nothing", Field: "value", Range: "1h"},
		{Device: "pi", Measurement: "temp", Field: "nothing", Range: "1h"},
		{Device: "nobody", Measurement: "temp", Field: "value", Range: "7d"},
	} {
		if s, err := src.Read(ctx, q); err != nil || len(s.Points) != 0 {
			t.Errorf("Read(%+v) = %v, %v; want no points", q, s.Points, err)
		}
	}
	if _, err := src.Read(ctx, history.Query{Device: "pi", Measurement: "temp", Field: "label", Range: "1h"}); !errors.Is(err, history.ErrInvalid) {
		t.Errorf("a text field: %v, want ErrInvalid", err)
	}
	if _, err := src.Read(ctx, history.Query{Device: "pi", Measurement: "temp", Field: "value", Range: "2y"}); !errors.Is(err, history.ErrInvalid) {
		t.Errorf("a bad range: %v, want ErrInvalid", err)
	}
	// Hostile names are identifiers, never SQL.
	if _, err := src.Read(ctx, history.Query{Device: "pi' OR '1'='1", Measurement: `temp"; DROP TABLE temp; --`, Field: "value", Range: "1h"}); err != nil {
		t.Errorf("hostile names: %v", err)
	}
	if n := count(t, pg, "temp"); n != 7+history.MaxPoints+200 {
		t.Errorf("temp holds %d rows, want %d", n, 7+history.MaxPoints+200)
	}
	pg.Stop(t)
	_, err = src.Read(ctx, history.Query{Device: "pi", Measurement: "temp", Field: "value", Range: "1h"})
	if err == nil || errors.Is(err, history.ErrInvalid) || strings.Contains(err.Error(), pg.Password()) {
		t.Errorf("PostgreSQL down: %v, want an error without the password", err)
	}
}
