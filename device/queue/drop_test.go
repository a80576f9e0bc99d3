package queue

import (
	"errors"
	"fmt"
	"testing"
)

// A queue that keeps the newest records: appending until full, dropping
// the oldest segment and appending again leaves the newest records, in
// order, and the count of what went matches what is gone; the drop is
// durable across a reopen, and a record handed out before the drop can be
// acknowledged after it without harm.
func TestDropOldestKeepsNewest(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, 64<<10, 4<<10)
	first, ok, err := q.Next() // in flight when its segment is dropped
	if err != nil || ok {
		t.Fatalf("empty queue gave %v %v", first, err)
	}
	n, dropped := 0, 0
	for n < 8000 {
		_, err := q.Append(fmt.Appendf(nil, "line %05d", n))
		if errors.Is(err, ErrFull) {
			d := q.DropOldest()
			if d == 0 {
				t.Fatalf("full queue dropped nothing at line %d", n)
			}
			dropped += d
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			first, _, _ = q.Next()
		}
		n++
	}
	if dropped == 0 {
		t.Fatal("8000 lines fit a 64KiB queue; the test proves nothing")
	}
	q.Ack(first.ID) // already dropped: nothing happens
	if st := q.Stats(); st.Dropped != uint64(dropped) || st.Records != n-dropped {
		t.Fatalf("stats %+v; want %d dropped, %d records", st, dropped, n-dropped)
	}
	q.Close()
	q = open(t, dir, 64<<10, 4<<10)
	defer q.Close()
	got := drain(t, q, false)
	if len(got) != n-dropped {
		t.Fatalf("after reopen %d records, want %d", len(got), n-dropped)
	}
	for i, r := range got {
		if want := fmt.Sprintf("line %05d", dropped+i); string(r.Data) != want {
			t.Fatalf("record %d = %q, want %q (the newest, in order)", i, r.Data, want)
		}
	}
}

// With everything in the one segment being written, DropOldest seals it
// and empties the queue; an empty queue drops nothing.
func TestDropOldestActiveSegment(t *testing.T) {
	q := open(t, t.TempDir(), 1<<20, 64<<10)
	defer q.Close()
	if d := q.DropOldest(); d != 0 {
		t.Fatalf("empty queue dropped %d", d)
	}
	for i := range 10 {
		if _, err := q.Append(fmt.Appendf(nil, "r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if d := q.DropOldest(); d != 10 {
		t.Fatalf("dropped %d, want 10", d)
	}
	if _, err := q.Append([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, q, true); len(got) != 1 || string(got[0].Data) != "after" {
		t.Fatalf("after the drop: %v", got)
	}
}
