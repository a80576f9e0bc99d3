package subscriber

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// ackLog records the Acks of fake messages in the order they were made.
type ackLog struct {
	mu   sync.Mutex
	ids  []int
	busy atomic.Int32 // Acks running at once
	over atomic.Bool  // two Acks ran at once
}

type fakeMsg struct {
	id  int
	log *ackLog
}

func (m fakeMsg) Ack() {
	if m.log.busy.Add(1) > 1 {
		m.log.over.Store(true)
	}
	m.log.mu.Lock()
	m.log.ids = append(m.log.ids, m.id)
	m.log.mu.Unlock()
	m.log.busy.Add(-1)
}

func (l *ackLog) acked() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

// step is one event for the order: add a message (it gets the next id),
// or settle message seq. want is every message acknowledged so far.
type step struct {
	op    string // add, ack, drop
	seq   uint64
	label string
	want  []int
}

func TestAckOrder(t *testing.T) {
	add := step{op: "add"}
	ack := func(seq uint64, want ...int) step { return step{op: "ack", seq: seq, label: "spooled", want: want} }
	drop := func(seq uint64, reason string, want ...int) step {
		return step{op: "drop", seq: seq, label: reason, want: want}
	}
	cases := []struct {
		name    string
		steps   []step
		reports []string // every message's outcome, in sequence
	}{
		{"in order", []step{add, add, add, ack(0, 0), ack(1, 0, 1), ack(2, 0, 1, 2)},
			[]string{"acked spooled", "acked spooled", "acked spooled"}},
		{"reverse: nothing until the oldest is settled", []step{add, add, add, add,
			ack(3), ack(2), ack(1), ack(0, 0, 1, 2, 3)},
			[]string{"acked spooled", "acked spooled", "acked spooled", "acked spooled"}},
		{"a message held back by a full spool holds back every later one", []step{add, add, add, add, add,
			ack(0, 0), ack(2, 0), ack(4, 0), ack(1, 0, 1, 2), ack(3, 0, 1, 2, 3, 4)},
			[]string{"acked spooled", "acked spooled", "acked spooled", "acked spooled", "acked spooled"}},
		{"messages arriving while earlier ones wait", []step{add, add, ack(1), add, ack(2), add,
			ack(0, 0, 1, 2), ack(3, 0, 1, 2, 3)},
			[]string{"acked spooled", "acked spooled", "acked spooled", "acked spooled"}},
		{"dropped oldest: nothing after it is acked", []step{add, add, add,
			ack(1), drop(0, "connection_lost"), ack(2)},
			[]string{"not acked connection_lost", "not acked connection_lost", "not acked connection_lost"}},
		{"dropped in the middle: earlier ones acked, later ones not", []step{add, add, add, add,
			ack(0, 0), ack(2, 0), drop(1, "connection_lost", 0), ack(3, 0)},
			[]string{"acked spooled", "not acked connection_lost", "not acked connection_lost", "not acked connection_lost"}},
		{"a drop behind a pending message waits its turn", []step{add, add, add,
			drop(1, "connection_lost"), ack(2), ack(0, 0)},
			[]string{"acked spooled", "not acked connection_lost", "not acked connection_lost"}},
		{"close: queued messages dropped at shutdown, the one in hand acked", []step{add, add, add, add,
			ack(0, 0), drop(2, "shutdown", 0), drop(3, "shutdown", 0), ack(1, 0, 1)},
			[]string{"acked spooled", "acked spooled", "not acked shutdown", "not acked shutdown"}},
		{"the first drop's reason is reported for later ones", []step{add, add, add,
			drop(0, "connection_lost"), drop(1, "shutdown"), ack(2)},
			[]string{"not acked connection_lost", "not acked shutdown", "not acked connection_lost"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &ackLog{}
			var reports []string
			o := newAckOrder(func(acked bool, label string) {
				if acked {
					reports = append(reports, "acked "+label)
				} else {
					reports = append(reports, "not acked "+label)
				}
			})
			added := 0
			for i, s := range tc.steps {
				switch s.op {
				case "add":
					if seq := o.add(fakeMsg{id: added, log: log}); seq != uint64(added) {
						t.Fatalf("step %d: add gave seq %d, want %d", i, seq, added)
					}
					added++
					continue
				case "ack":
					o.ack(s.seq, s.label)
				case "drop":
					o.drop(s.seq, s.label)
				}
				if got := log.acked(); !slices.Equal(got, s.want) {
					t.Fatalf("step %d (%s %d): acked %v, want %v", i, s.op, s.seq, got, s.want)
				}
			}
			if !slices.Equal(reports, tc.reports) {
				t.Errorf("reports %q, want %q", reports, tc.reports)
			}
			if n := o.unreleased(); n != 0 {
				t.Errorf("%d messages left unreleased", n)
			}
		})
	}
}

// Workers settling concurrently and in random order still get every
// message acknowledged once, in sequence, one Ack at a time.
func TestAckOrderConcurrent(t *testing.T) {
	const n, workers = 20000, 8
	log := &ackLog{}
	var reported atomic.Int64
	o := newAckOrder(func(acked bool, _ string) {
		if acked {
			reported.Add(1)
		}
	})
	work := make(chan uint64, n)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range work {
				if rand.IntN(4) == 0 {
					// Finish late, so settles overtake each other.
					for range rand.IntN(20) {
						runtime.Gosched()
					}
				}
				o.ack(seq, "spooled")
			}
		}()
	}
	for i := range n {
		work <- o.add(fakeMsg{id: i, log: log})
	}
	close(work)
	wg.Wait()

	got := log.acked()
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		first := 0
		for first < min(len(got), n) && got[first] == first {
			first++
		}
		t.Fatalf("%d acks, out of sequence from position %d", len(got), first)
	}
	if log.over.Load() {
		t.Error("two Acks ran at once")
	}
	if reported.Load() != n {
		t.Errorf("reported %d acks, want %d", reported.Load(), n)
	}
	if u := o.unreleased(); u != 0 {
		t.Errorf("%d unreleased", u)
	}
}

// An order that never empties (the newest message always pending) does
// not keep the slots it released alive.
func TestAckOrderCompacts(t *testing.T) {
	log := &ackLog{}
	o := newAckOrder(func(bool, string) {})
	const n = 5000
	for i := range n {
		o.add(fakeMsg{id: i, log: log})
	}
	for i := range uint64(n - 1) {
		o.ack(i, "spooled")
	}
	if got := o.unreleased(); got != 1 {
		t.Fatalf("unreleased %d, want 1", got)
	}
	o.mu.Lock()
	held := len(o.slots)
	o.mu.Unlock()
	if held > 1024 {
		t.Errorf("holds %d slots for 1 unreleased message", held)
	}
	if got := len(log.acked()); got != n-1 {
		t.Errorf("acked %d, want %d", got, n-1)
	}
}

func TestAckOrderSettleTwicePanics(t *testing.T) {
	o := newAckOrder(func(bool, string) {})
	o.add(fakeMsg{log: &ackLog{}})
	o.add(fakeMsg{log: &ackLog{}})
	o.ack(1, "spooled")
	defer func() {
		if recover() == nil {
			t.Error("settling a message twice did not panic")
		}
	}()
	o.ack(1, "spooled")
}
