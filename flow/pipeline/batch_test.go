package pipeline

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/spool"
)

// A batch stores nothing before Commit; Commit stores exactly the readings
// Add accepted, a rejected one is dead-lettered at once, and the counters
// count each reading once.
func TestBatchCommitsWhatWasAdded(t *testing.T) {
	dir := t.TempDir()
	out := &fakeOutput{}
	p := openTest(t, dir, out, nil)
	sink := p.Sink("mqtt")
	b := sink.Batch()
	var want []string
	for i := range 5 {
		pl, line := reading(i)
		if err := b.Add(testTopic, pl, rx); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
		want = append(want, line)
		if i == 2 {
			var re *ingest.RejectError
			if err := b.Add(testTopic, []byte("NaN"), rx); !errors.As(err, &re) || re.Reason != "nan_inf" {
				t.Fatalf("Add(NaN) = %v, want a nan_inf RejectError", err)
			}
		}
	}
	if b.Len() != 5 || pending(p) != 0 {
		t.Fatalf("before Commit: %d in the batch, %d spooled; want 5 and 0", b.Len(), pending(p))
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n := pending(p); n != 5 {
		t.Fatalf("%d records spooled after Commit, want 5", n)
	}
	if got := float64(p.Stats().Spooled["mqtt"]); got != 5 {
		t.Errorf("spooled{mqtt} = %v, want 5", got)
	}
	if got := float64(p.Stats().Received["mqtt"]); got != 6 {
		t.Errorf("received{mqtt} = %v, want 6", got)
	}
	p.Start()
	waitDrained(t, p)
	stop(t, p, time.Minute)
	slices.Sort(want)
	if got := out.storedLines(); !slices.Equal(got, want) {
		t.Fatalf("stored %q, want %q", got, want)
	}
	if letters := deadLetters(t, dir); len(letters) != 1 || letters[0].Reason != "nan_inf" {
		t.Fatalf("dead letters %+v, want the NaN", letters)
	}
}

// Add pushes back the reading the spool has no room for, counting what the
// batch already holds, and the batch still commits the ones before it.
func TestBatchPushesBackWhenFull(t *testing.T) {
	const size = 64 << 10
	out := &fakeOutput{}
	p := openTest(t, t.TempDir(), out, func(o *Options) {
		o.Spool = spool.Options{MaxBytes: size, SegmentBytes: size}
	})
	defer stop(t, p, time.Minute)
	b := p.Sink("mqtt").Batch()
	added := 0
	for i := 0; ; i++ {
		pl, _ := reading(i)
		err := b.Add(testTopic, pl, rx)
		if errors.Is(err, ingest.ErrFull) {
			break
		}
		if err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
		if added++; added > 1e5 {
			t.Fatal("a spool of 64 KiB never filled")
		}
	}
	if added == 0 || pending(p) != 0 {
		t.Fatalf("added %d, spooled %d before Commit; want some and 0", added, pending(p))
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("Commit of what fitted: %v", err)
	}
	if n := pending(p); n != int64(added) {
		t.Fatalf("%d records spooled, %d added", n, added)
	}
	if got := float64(p.Stats().PushedBack["mqtt"]); got != 1 {
		t.Errorf("pushed_back{mqtt} = %v, want 1", got)
	}
}
