package logs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/flow/logs"
	"github.com/mqflux/mqflux/internal/testenv"
)

var lpTag = strings.NewReplacer(`,`, `\,`, `=`, `\=`, ` `, `\ `)
var lpString = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// Paging walks every line once, newest first, ties (lines of one
// millisecond in different series) included; filters select exactly, and
// hostile filter values are only text.
func TestReadFromInflux(t *testing.T) {
	in := testenv.StartInflux(t)
	now := time.Now().Truncate(time.Millisecond)
	var lines []string
	add := func(at time.Time, device, unit, level, msg string) {
		lines = append(lines, fmt.Sprintf(`logs,device=%s,level=%s,unit=%s message="%s",pid=42 %d`,
			lpTag.Replace(device), level, lpTag.Replace(unit), lpString.Replace(msg), at.UnixNano()))
	}
	// 25 lines of pi-1: every third millisecond holds three lines of three units.
	var want []string
	for i := range 25 {
		at := now.Add(-time.Duration(i/3) * time.Second)
		unit := []string{"sshd", "cron", "kernel"}[i%3]
		msg := fmt.Sprintf("line %02d", i)
		add(at, "pi-1", unit, "info", msg)
		want = append(want, msg)
	}
	add(now.Add(-time.Minute), "pi-2", "sshd", "err", `Failed password for root from 10.0.0.1 port 22 ssh2`)
	add(now.Add(-time.Minute), "x' OR '1'='1", "a.b/c", "warning", `weird /.*/ (text) [x] \ end`)
	add(now.Add(-48*time.Hour), "pi-1", "sshd", "info", "old")
	in.WriteLines(t, strings.Join(lines, "\n"))
	r := logs.Reader{Endpoint: influx.Endpoint{URL: in.URL, Bucket: in.Bucket(), Token: in.Token()}}
	read := func(q logs.Query) logs.Page {
		t.Helper()
		p, err := r.Read(context.Background(), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		return p
	}

	var got []string
	var last time.Time
	q := logs.Query{Device: "pi-1", Limit: 7}
	for pages := 0; ; pages++ {
		p := read(q)
		for _, e := range p.Entries {
			if !last.IsZero() && e.Time.After(last) {
				t.Fatalf("%s (%s) after %s: not newest first", e.Message, e.Time, last)
			}
			last = e.Time
			if e.Device != "pi-1" || e.PID == nil || *e.PID != 42 || e.Level != "info" {
				t.Errorf("entry %+v", e)
			}
			got = append(got, e.Message)
		}
		if p.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatalf("paging does not end: %v", got)
		}
		q.Cursor = p.Next
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("paging through pi-1's last day gave %d lines %v, want each of the %d once", len(got), got, len(want))
	}

	for _, tc := range []struct {
		name string
		q    logs.Query
		want []string
	}{
		{"unit", logs.Query{Device: "pi-1", Unit: "cron", Limit: 1000}, []string{"line 01", "line 04", "line 07", "line 10", "line 13", "line 16", "line 19", "line 22"}},
		{"level", logs.Query{Level: "err"}, []string{"Failed password for root from 10.0.0.1 port 22 ssh2"}},
		{"substring", logs.Query{Contains: "password for root"}, []string{"Failed password for root from 10.0.0.1 port 22 ssh2"}},
		{"substring is literal, not a regex", logs.Query{Contains: ".*"}, []string{`weird /.*/ (text) [x] \ end`}},
		{"delimiter and brackets", logs.Query{Contains: `/.*/ (text) [x] \ e`}, []string{`weird /.*/ (text) [x] \ end`}},
		{"hostile device is a name", logs.Query{Device: "x' OR '1'='1"}, []string{`weird /.*/ (text) [x] \ end`}},
		{"injection finds nothing", logs.Query{Device: "pi-1' OR device='pi-2"}, nil},
		{"older than the range", logs.Query{Device: "pi-1", From: now.Add(-72 * time.Hour), To: now.Add(-24 * time.Hour)}, []string{"old"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range read(tc.q).Entries {
				got = append(got, e.Message)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInvalidQueries(t *testing.T) {
	now := time.Now()
	for _, q := range []logs.Query{
		{Limit: -1}, {Limit: logs.MaxLimit + 1}, {Device: "a\nb"}, {Contains: "x\x00"},
		{From: now, To: now.Add(-time.Hour)}, {Cursor: "nonsense"}, {Cursor: "12.-1"},
	} {
		if _, err := (logs.Reader{Endpoint: influx.Endpoint{URL: "http://127.0.0.1:1"}}).Read(context.Background(), q); !errors.Is(err, logs.ErrInvalid) {
			t.Errorf("%+v: err = %v, want ErrInvalid", q, err)
		}
	}
}
