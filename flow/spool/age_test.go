package spool

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Stats.Oldest follows the oldest record not yet acked: batches acked out
// of order leave it on the oldest unacked one, and records recovered at
// Open count from the Open.
func TestStatsOldest(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir})
	t0 := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	clock := t0
	s.now = func() time.Time { return clock }
	if got := s.Stats().Oldest; !got.IsZero() {
		t.Fatalf("empty spool: Oldest = %v, want zero", got)
	}
	for i := range 4 { // one record a second: 6:00:00 .. 6:00:03
		if err := s.Append(fmt.Appendf(nil, "m v=%d %d\n", i, i)); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Second)
	}
	want := func(what string, at time.Time) {
		t.Helper()
		if got := s.Stats().Oldest; !got.Equal(at) {
			t.Fatalf("%s: Oldest = %v, want %v", what, got, at)
		}
	}
	want("nothing handed out", t0)
	ctx := context.Background()
	first, err := only(s).Next(ctx, 1, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := only(s).Next(ctx, 1, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	want("two handed out, none acked", t0)
	if err := only(s).Ack(second); err != nil {
		t.Fatal(err)
	}
	want("the second acked before the first", t0)
	if err := only(s).Ack(first); err != nil {
		t.Fatal(err)
	}
	want("both acked", t0.Add(2*time.Second))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	again := openSpool(t, Options{Dir: dir})
	opened := time.Now()
	if got := again.Stats().Oldest; got.IsZero() || got.After(opened) {
		t.Fatalf("after reopening: Oldest = %v, want the time of the Open (before %v)", got, opened)
	}
	drainAll(t, again)
	if got := again.Stats().Oldest; !got.IsZero() {
		t.Fatalf("drained: Oldest = %v, want zero", got)
	}
}

// The stamps stay bounded however long the backlog, and keep its start.
func TestStampsBounded(t *testing.T) {
	var a ages
	t0 := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	for i := range 10 * maxStamps {
		a.note(uint64(i), t0.Add(time.Duration(i)*stampEvery))
	}
	if len(a.stamps) > maxStamps {
		t.Fatalf("%d stamps, want at most %d", len(a.stamps), maxStamps)
	}
	if got := a.at(0); !got.Equal(t0) {
		t.Fatalf("at(0) = %v, want %v", got, t0)
	}
}
