package passwd

import (
	"runtime"
	"sync"
)

// limiter bounds the bcrypt comparisons running at once, and how many may
// wait for a turn. Without it every wrong password is a full bcrypt on its
// own goroutine: 32 parallel guessers filled both cores of a small server
// and a legitimate device's acknowledgements fell from hundreds a second to
// one. With it, authentication never takes more than its share of the CPU,
// and a check that finds the queue full fails at once as ErrBusy instead of
// queueing without bound.
//
// Checks come in two classes: clean (from an address without recent
// failures) and suspect. Each class has a wait queue of its own, so
// guessers filling theirs never make a clean login busy; a freed slot goes
// to a waiting clean check first; and suspect checks run in at most
// slots - slots/2 slots at once, the rest being kept for clean ones. (With
// one slot, as on two cores, the reserve is the clean queue and its
// priority: a clean login waits for at most the bcrypt under way.) Before
// the classes, 32 parallel guessers kept the one queue full, and every
// fresh login of another user from a clean address was refused as busy.
type limiter struct {
	slots      int
	suspectMax int // slots suspect checks may hold at once
	queue      int // waiting checks per class

	mu             sync.Mutex
	running        int
	suspectRunning int
	clean, suspect []chan struct{} // waiting, oldest first
}

// defaultSlots leaves at least half the CPUs to everything else.
func defaultSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// defaultQueue is how many checks of a class may wait per slot: at ~70 ms a
// bcrypt, a waiting check is answered within about a second.
const defaultQueue = 16

func newLimiter(slots, queue int) *limiter {
	slots = max(1, slots)
	return &limiter{slots: slots, suspectMax: slots - slots/2, queue: max(0, queue)}
}

// run calls f once a slot is free, or returns ErrBusy when the wait queue
// of f's class is full.
func (l *limiter) run(clean bool, f func()) error {
	l.mu.Lock()
	if l.mayStart(clean) {
		l.start(clean)
		l.mu.Unlock()
	} else {
		q := &l.suspect
		if clean {
			q = &l.clean
		}
		if len(*q) >= l.queue {
			l.mu.Unlock()
			return ErrBusy
		}
		turn := make(chan struct{})
		*q = append(*q, turn)
		l.mu.Unlock()
		<-turn // release started us
	}
	defer l.release(clean)
	f()
	return nil
}

// mayStart reports whether a check of the class may take a slot now: a
// suspect one only while no clean one waits and within its share.
func (l *limiter) mayStart(clean bool) bool {
	if l.running >= l.slots {
		return false
	}
	return clean || (len(l.clean) == 0 && l.suspectRunning < l.suspectMax)
}

func (l *limiter) start(clean bool) {
	l.running++
	if !clean {
		l.suspectRunning++
	}
}

// release frees a slot and hands it to the oldest clean check waiting, or
// else to the oldest suspect one within its share.
func (l *limiter) release(clean bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	if !clean {
		l.suspectRunning--
	}
	switch {
	case len(l.clean) > 0:
		turn := l.clean[0]
		l.clean = l.clean[1:]
		l.start(true)
		close(turn)
	case len(l.suspect) > 0 && l.suspectRunning < l.suspectMax:
		turn := l.suspect[0]
		l.suspect = l.suspect[1:]
		l.start(false)
		close(turn)
	}
}

// waiting is how many checks wait for a slot.
func (l *limiter) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clean) + len(l.suspect)
}
