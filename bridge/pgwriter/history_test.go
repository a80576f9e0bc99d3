package pgwriter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bridge/history"
	"github.com/mqflux/mqflux/bridge/output"
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
	want := []history.Point{
		{float64(now.UnixMilli()), 15},
		{float64(now.Add(time.Minute).UnixMilli()), 35},
	}
	if fmt.Sprint(s.Points) != fmt.Sprint(want) || s.Interval != "4s" {
		t.Errorf("points %v every %s, want %v every 4s", s.Points, s.Interval, want)
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
	if n := count(t, pg, "temp"); n != 7 {
		t.Errorf("temp holds %d rows, want 7", n)
	}
	pg.Stop(t)
	_, err = src.Read(ctx, history.Query{Device: "pi", Measurement: "temp", Field: "value", Range: "1h"})
	if err == nil || errors.Is(err, history.ErrInvalid) || strings.Contains(err.Error(), pg.Password()) {
		t.Errorf("PostgreSQL down: %v, want an error without the password", err)
	}
}
