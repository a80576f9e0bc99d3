package passwd

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// An unknown account pays the same bcrypt as a known one: the dummy
// comparison runs, under the limit, and never lets anyone in.
func TestRefuseComparesAgainstTheDummy(t *testing.T) {
	c := NewChecker()
	var dummy atomic.Int64
	c.compare = func(hash, secret []byte) error {
		if string(hash) == dummyHash {
			dummy.Add(1)
		}
		return bcrypt.CompareHashAndPassword(hash, secret)
	}
	for _, secret := range []string{"", "guess-one", "mqflux: no such account, never a password"} {
		if err := c.Refuse([]byte(secret)); !errors.Is(err, ErrMismatch) {
			t.Errorf("Refuse(%q) = %v, want ErrMismatch", secret, err)
		}
	}
	if got := dummy.Load(); got != 3 {
		t.Errorf("the dummy hash was compared %d times for 3 unknown logins, want 3", got)
	}
	if cost, err := bcrypt.Cost([]byte(dummyHash)); err != nil || cost != DefaultCost {
		t.Errorf("dummy hash cost %d (%v), want DefaultCost %d: an unknown name would answer at a different speed", cost, err, DefaultCost)
	}
}

// With every slot taken and the queue full, a check fails at once as busy,
// while a remembered secret is still answered from memory.
func TestLimitRefusesBeyondTheQueue(t *testing.T) {
	good, err := Hash([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(WithLimit(1, 1))
	if !c.Check(good, []byte("correct horse")) {
		t.Fatal("the right password was refused")
	}
	var started sync.WaitGroup
	started.Add(1)
	release := make(chan struct{})
	var calls atomic.Int64
	c.compare = func(hash, secret []byte) error {
		if calls.Add(1) == 1 {
			started.Done()
			<-release // hold the only slot
		}
		return bcrypt.CompareHashAndPassword(hash, secret)
	}
	results := make(chan error, 2)
	go func() { results <- c.Verify(good, []byte("wrong one")) }()
	started.Wait()
	// The slot is held; the next distinct check queues. Wait until it has.
	go func() { results <- c.Verify(good, []byte("wrong two")) }()
	for c.limit.waiting() != 1 {
		runtime.Gosched()
	}
	if err := c.Verify(good, []byte("wrong three")); !errors.Is(err, ErrBusy) {
		t.Errorf("a check beyond the queue = %v, want ErrBusy", err)
	}
	if err := c.Refuse([]byte("wrong four")); !errors.Is(err, ErrBusy) {
		t.Errorf("an unknown account beyond the queue = %v, want ErrBusy", err)
	}
	if err := c.Verify(good, []byte("correct horse")); err != nil {
		t.Errorf("a remembered secret while the limit is full = %v, want nil", err)
	}
	close(release)
	for range 2 {
		if err := <-results; !errors.Is(err, ErrMismatch) {
			t.Errorf("a queued wrong password = %v, want ErrMismatch", err)
		}
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("bcrypt ran %d times, want 2 (the busy checks must not run it)", got)
	}
}

// A suspect check that finds its class's pause not yet over, with nothing
// running, gets a timer for the rest of the pause. The limiter read the
// clock once to decide and again to arm the timer: when the pause ended in
// between, no timer was armed and no release was coming, and the check
// (and every suspect check after it, each holding a packet runner) waited
// for ever. Here the clock moves a second at each reading, so the pause
// always ends between two readings.
func TestSuspectCheckAtThePausesEndIsNotForgotten(t *testing.T) {
	l := newLimiter(1, 16)
	var mu sync.Mutex
	t0, n := time.Now(), 0
	l.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n) * time.Second)
	}
	l.suspectNext = t0.Add(2 * time.Second) // the clock's second reading
	done := make(chan error, 1)
	go func() { done <- l.run(false, func() {}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("suspect check: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the suspect check never ran: %d waiting, no timer armed", l.waiting())
	}
}
