package passwd

import (
	"runtime"
	"sync"
	"time"
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
// failures) and suspect. Each class has a wait queue of its own (the
// suspect one shorter), so
// guessers filling theirs never make a clean login busy; a freed slot goes
// to a waiting clean check first; and suspect checks run in at most one
// slot at once, the rest being kept for clean ones. (With one slot, as on
// two cores, the reserve is the clean queue and its priority: a clean login
// waits for at most the bcrypt under way.) Before the classes, 32 parallel
// guessers kept the one queue full, and every fresh login of another user
// from a clean address was refused as busy.
//
// Suspect checks also get at most suspectShare of that slot's time: after
// one that took d, the next waits d × (1/share − 1). One slot is a whole
// core; guessers from more addresses than the backoff can keep up with
// (each gets its free failures) kept one of two cores on bcrypt, and the
// devices already connected had what was left.
type limiter struct {
	slots        int
	suspectMax   int     // slots suspect checks may hold at once
	suspectShare float64 // of one slot's time, for suspect checks; 1 = no pause
	queue        int     // clean checks that may wait
	suspectQueue int     // suspect checks that may wait
	now          func() time.Time

	mu             sync.Mutex
	running        int
	suspectRunning int
	suspectNext    time.Time // no suspect check starts before
	timer          *time.Timer
	clean, suspect []chan struct{} // waiting, oldest first
}

// defaultSlots leaves at least half the CPUs to everything else.
func defaultSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// defaultQueue is how many checks of a class may wait per slot: at ~70 ms a
// bcrypt, a waiting check is answered within about a second.
const defaultQueue = 16

// DefaultSuspectShare is the share of one core that bcrypt checks from
// addresses with recent failures may take: a quarter, about 3 checks a
// second at the default cost. A device whose password was wrong and is
// now right waits a few seconds for its check under a flood, or is told
// to retry (busy); an honest device already connected keeps the CPU.
const DefaultSuspectShare = 0.25

// maxSuspectQueue bounds the suspect checks waiting, whatever the clean
// queue: at about 3 suspect checks a second (DefaultSuspectShare) 4 are
// answered within a second or two. With 16, 16 guessers always found a
// place, each waited seconds for a check, and none was backed off in 15 s;
// the rest are refused as busy, which counts as a failure. (A waiting check
// also holds one of the broker's packet runners.)
const maxSuspectQueue = 4

func newLimiter(slots, queue int) *limiter {
	slots = max(1, slots)
	queue = max(0, queue)
	return &limiter{slots: slots, suspectMax: 1, suspectShare: DefaultSuspectShare,
		queue: queue, suspectQueue: min(queue, maxSuspectQueue), now: time.Now}
}

// run calls f once a slot is free, or returns ErrBusy when the wait queue
// of f's class is full.
func (l *limiter) run(clean bool, f func()) error {
	l.mu.Lock()
	// One instant for the decision and for the timer: read twice, the
	// clock could pass the end of the pause in between, and the check
	// waited for a timer nobody armed and a release nobody would make.
	now := l.now()
	if l.mayStart(clean, now) {
		l.start(clean)
		l.mu.Unlock()
	} else {
		q, limit := &l.suspect, l.suspectQueue
		if clean {
			q, limit = &l.clean, l.queue
		}
		if len(*q) >= limit {
			l.mu.Unlock()
			return ErrBusy
		}
		turn := make(chan struct{})
		*q = append(*q, turn)
		l.armLocked(now)
		l.mu.Unlock()
		<-turn // dispatchLocked started us
	}
	began := l.now()
	defer func() { l.release(clean, l.now().Sub(began)) }()
	f()
	return nil
}

// mayStart reports whether a check of the class may take a slot at now:
// a suspect one only while no clean one waits, within its slots and once
// its pause is over.
func (l *limiter) mayStart(clean bool, now time.Time) bool {
	if l.running >= l.slots {
		return false
	}
	return clean || (len(l.clean) == 0 && l.suspectRunning < l.suspectMax && !now.Before(l.suspectNext))
}

func (l *limiter) start(clean bool) {
	l.running++
	if !clean {
		l.suspectRunning++
	}
}

// release frees a slot after a check that took took: a suspect check
// pauses its class in proportion, then the slot goes to whoever waits.
func (l *limiter) release(clean bool, took time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running--
	if !clean {
		l.suspectRunning--
		if l.suspectShare > 0 && l.suspectShare < 1 {
			l.suspectNext = l.now().Add(time.Duration(float64(took) * (1/l.suspectShare - 1)))
		}
	}
	l.dispatchLocked()
}

// dispatchLocked hands free slots to the oldest clean checks waiting, then
// to the oldest suspect ones within their share, and arms the timer when a
// suspect check waits only for its pause to end.
func (l *limiter) dispatchLocked() {
	for {
		now := l.now() // one instant for the decision and the timer (see run)
		switch {
		case len(l.clean) > 0 && l.mayStart(true, now):
			turn := l.clean[0]
			l.clean = l.clean[1:]
			l.start(true)
			close(turn)
		case len(l.suspect) > 0 && l.mayStart(false, now):
			turn := l.suspect[0]
			l.suspect = l.suspect[1:]
			l.start(false)
			close(turn)
		default:
			l.armLocked(now)
			return
		}
	}
}

// armLocked starts the timer that dispatches a waiting suspect check once
// the pause of its class ends, unless one is armed or none waits for it.
// now is the instant at which the check was found unable to start: when
// the pause was over then, something else held it back, whose release
// will dispatch it.
func (l *limiter) armLocked(now time.Time) {
	if l.timer != nil || len(l.suspect) == 0 {
		return
	}
	wait := l.suspectNext.Sub(now)
	if wait <= 0 {
		return // a release will dispatch it
	}
	l.timer = time.AfterFunc(wait, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.timer = nil
		l.dispatchLocked()
	})
}

// waiting is how many checks wait for a slot.
func (l *limiter) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clean) + len(l.suspect)
}
