package hostlogs

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// max_per_second is a token bucket: a second's worth passes at once, then
// the rate; what is over is counted and reported in a line of its own
// (outside the rate), never dropped silently.
func TestRateLimitCountsAndReports(t *testing.T) {
	r := newRig(t, 1<<20, 20)
	c := &clock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	r.sh.now = c.now
	r.sh.bucket = newBucket(20, c.t)
	flood := func(n int) {
		var ls []Line
		for i := range n {
			ls = append(ls, Line{Message: fmt.Sprintf("flood %d", i)})
		}
		r.sh.Ship(ls, nil)
	}
	flood(100)
	c.t = c.t.Add(500 * time.Millisecond) // 10 tokens more
	flood(100)
	r.sh.flushOver()
	got := r.lines()
	if len(got) != 31 {
		t.Fatalf("%d lines queued, want 20 + 10 and the report", len(got))
	}
	last := got[30]
	if last.Message != "170 log lines not sent: over device.logs.max_per_second (20 a second)" ||
		last.Tags["unit"] != SelfUnit || last.Tags["level"] != "warning" {
		t.Fatalf("report line %+v", last)
	}
	if n := r.sh.OverRate.Load(); n != 170 {
		t.Fatalf("OverRate %d, want 170", n)
	}
	// Lines of one series with equal times get distinct nanoseconds, in
	// order; the report, in a series of its own, keeps the time it was made.
	prev := time.Time{}
	for _, p := range got[:30] {
		ts, err := time.Parse(time.RFC3339Nano, p.Time)
		if err != nil || !ts.After(prev) {
			t.Fatalf("time %s repeated or out of order (%v)", p.Time, err)
		}
		prev = ts
	}
	if last.Time != "2026-12-06T12:00:00.5Z" {
		t.Fatalf("report time %s", last.Time)
	}
	r.sh.flushOver()
	if n := len(r.lines()); n != 31 {
		t.Fatalf("a second report with nothing over: %d lines", n)
	}
}

// Under pressure the log queue drops its oldest lines; each drop is
// counted and said in a line placed after the survivors of it, and the
// newest lines are all there.
func TestFullLogQueueDropsOldest(t *testing.T) {
	r := newRig(t, 64<<10, 10000)
	const n = 3000
	for i := range n {
		r.sh.Ship([]Line{{Message: fmt.Sprintf("line %04d %s", i, strings.Repeat("x", 40))}}, nil)
	}
	got := r.lines()
	var idx []int
	reports := 0
	for _, p := range got {
		var d, i int
		if _, err := fmt.Sscanf(p.Message, "%d log lines dropped", &d); err == nil {
			reports++
			continue
		}
		if _, err := fmt.Sscanf(p.Message, "line %d", &i); err != nil {
			t.Fatalf("queued %q", p.Message)
		}
		idx = append(idx, i)
	}
	if reports == 0 || len(idx) == n {
		t.Fatal("3000 lines fit a 64KiB queue; the test proves nothing")
	}
	for k, i := range idx { // the newest, in order, none missing
		if want := n - len(idx) + k; i != want {
			t.Fatalf("queued line %d is line %d, want %d", k, i, want)
		}
	}
	// Reports of earlier drops may have been dropped in turn; the counter
	// has every line.
	if d := r.sh.Dropped.Load(); d < uint64(n-len(idx)) {
		t.Fatalf("Dropped %d, but %d lines are gone", d, n-len(idx))
	}
	if r.sh.Failed.Load() != 0 {
		t.Fatalf("%d lines failed", r.sh.Failed.Load())
	}
}
