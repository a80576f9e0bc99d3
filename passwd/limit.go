package passwd

import (
	"runtime"
	"sync/atomic"
)

// limiter bounds the bcrypt comparisons running at once, and how many may
// wait for a turn. Without it every wrong password is a full bcrypt on its
// own goroutine: 32 parallel guessers filled both cores of a small server
// and a legitimate device's acknowledgements fell from hundreds a second to
// one. With it, authentication never takes more than its share of the CPU,
// and a check that finds the queue full fails at once as ErrBusy instead of
// queueing without bound.
type limiter struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
}

// defaultSlots leaves at least half the CPUs to everything else.
func defaultSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// defaultQueue is how many checks may wait per slot: at ~70 ms a bcrypt, a
// waiting check is answered within about a second.
const defaultQueue = 16

func newLimiter(slots, queue int) *limiter {
	return &limiter{slots: make(chan struct{}, max(1, slots)), queue: int64(max(0, queue))}
}

// run calls f once a slot is free, or returns ErrBusy when the wait queue
// is full.
func (l *limiter) run(f func()) error {
	select {
	case l.slots <- struct{}{}:
	default:
		if l.waiting.Add(1) > l.queue {
			l.waiting.Add(-1)
			return ErrBusy
		}
		l.slots <- struct{}{}
		l.waiting.Add(-1)
	}
	defer func() { <-l.slots }()
	f()
	return nil
}
