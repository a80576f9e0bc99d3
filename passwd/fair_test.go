package passwd

import (
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Guessers filling the suspect queue never make a clean check busy, and a
// freed slot goes to the waiting clean check before any suspect one.
func TestLimiterServesCleanChecksFirst(t *testing.T) {
	l := newLimiter(1, 2)
	hold := make(chan struct{})
	running := make(chan struct{})
	go func() { _ = l.run(false, func() { close(running); <-hold }) }()
	<-running

	var mu sync.Mutex
	var order []string
	done := make(chan error, 4)
	waitFor := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); l.waiting() != n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d checks waiting, want %d", l.waiting(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i, name := range []string{"suspect-1", "suspect-2"} {
		go func() {
			done <- l.run(false, func() { mu.Lock(); order = append(order, name); mu.Unlock() })
		}()
		waitFor(i + 1)
	}
	if err := l.run(false, func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("a suspect check beyond its queue = %v, want ErrBusy", err)
	}
	go func() { done <- l.run(true, func() { mu.Lock(); order = append(order, "clean"); mu.Unlock() }) }()
	waitFor(3)
	close(hold)
	for range 3 {
		if err := <-done; err != nil {
			t.Errorf("a queued check = %v, want it run", err)
		}
	}
	if len(order) != 3 || order[0] != "clean" {
		t.Errorf("ran in the order %v, want the clean check first", order)
	}
}

// An address with recent failures is suspect; one without, or unknown, is
// clean; and a busy refusal recorded as a failure makes it suspect.
func TestCheckerClassifiesByFailures(t *testing.T) {
	c := NewChecker()
	if !c.clean("127.0.0.2:4000") || !c.clean("") {
		t.Fatal("an address never seen is not clean")
	}
	c.Record("127.0.0.2:4000", false)
	if c.clean("127.0.0.2:5000") {
		t.Error("an address that just failed is still clean")
	}
	c.Record("127.0.0.2:5000", true)
	if !c.clean("127.0.0.2:4000") {
		t.Error("an address whose login succeeded is not clean again")
	}
}

// With a cost-12 hash configured, an unknown name costs a cost-12 bcrypt,
// not a cost-10 one: its answer's time does not single out the cost-12
// account.
func TestRefuseCostsTheDearestHash(t *testing.T) {
	cheap, err := Hash([]byte("cheap password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dear, err := Hash([]byte("dear password"), 12)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hashes []string
		want   int
	}{
		{nil, DefaultCost},
		{[]string{cheap, "not a hash"}, DefaultCost},
		{[]string{cheap, dear}, 12},
	} {
		c := NewChecker(WithHashes(tc.hashes...))
		var compared []byte
		c.compare = func(hash, secret []byte) error {
			compared = hash
			return bcrypt.CompareHashAndPassword(hash, secret)
		}
		if err := c.Refuse([]byte("any guess")); !errors.Is(err, ErrMismatch) {
			t.Errorf("Refuse = %v, want ErrMismatch", err)
		}
		if cost, err := bcrypt.Cost(compared); err != nil || cost != tc.want {
			t.Errorf("with %d hashes, Refuse compared against cost %d (%v), want %d", len(tc.hashes), cost, err, tc.want)
		}
	}
}

// fakeClock is a limiter's clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Suspect checks take at most their share of a slot's time: after one
// that took d, the next suspect one waits d × (1/share − 1) even with the
// slot free, while a clean check starts at once.
func TestLimiterPausesSuspectChecks(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := newLimiter(2, 4)
	l.now = clock.now
	l.suspectShare = 0.25
	start := clock.now()
	if err := l.run(false, func() { clock.advance(100 * time.Millisecond) }); err != nil {
		t.Fatal(err)
	}
	// Paused until start + 100 ms + 300 ms.
	ranAt := make(chan time.Time, 1)
	go func() { _ = l.run(false, func() { ranAt <- clock.now() }) }()
	for deadline := time.Now().Add(10 * time.Second); l.waiting() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second suspect check did not wait for its pause")
		}
	}
	cleanRan := false
	if err := l.run(true, func() { cleanRan = true }); err != nil || !cleanRan {
		t.Errorf("a clean check during the suspect pause: %v, ran %v; want it run at once", err, cleanRan)
	}
	clock.advance(250 * time.Millisecond) // not yet
	select {
	case at := <-ranAt:
		t.Fatalf("the suspect check ran at +%v, before its pause ended at +400ms", at.Sub(start))
	case <-time.After(400 * time.Millisecond): // the timer fired and found the pause not over
	}
	clock.advance(50 * time.Millisecond)
	select {
	case at := <-ranAt:
		if at.Sub(start) < 400*time.Millisecond {
			t.Errorf("the suspect check ran at +%v, want +400ms or later", at.Sub(start))
		}
	case <-time.After(time.Minute):
		t.Fatal("the suspect check never ran once its pause ended")
	}
}

// However many slots there are, suspect checks hold at most one of them.
func TestLimiterGivesSuspectChecksOneSlot(t *testing.T) {
	l := newLimiter(4, 4)
	l.suspectShare = 1
	hold := make(chan struct{})
	running := make(chan struct{})
	go func() { _ = l.run(false, func() { close(running); <-hold }) }()
	<-running
	done := make(chan struct{})
	go func() { _ = l.run(false, func() {}); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); l.waiting() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a second suspect check did not wait with three slots free")
		}
	}
	for range 3 {
		if err := l.run(true, func() {}); err != nil {
			t.Errorf("a clean check with three slots free: %v", err)
		}
	}
	close(hold)
	<-done
}

// Fewer suspect checks than clean ones may wait: past maxSuspectQueue a
// suspect check is refused as busy (a failure for its address) while clean
// ones still find a place.
func TestLimiterQueuesFewSuspectChecks(t *testing.T) {
	l := newLimiter(1, 16)
	hold := make(chan struct{})
	running := make(chan struct{})
	go func() { _ = l.run(true, func() { close(running); <-hold }) }()
	<-running
	var wg sync.WaitGroup
	for i := range maxSuspectQueue + 1 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = l.run(i == maxSuspectQueue, func() {}) }() // the last one clean
		for deadline := time.Now().Add(10 * time.Second); l.waiting() != i+1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d checks waiting, want %d", l.waiting(), i+1)
			}
		}
	}
	if err := l.run(false, func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("suspect check %d = %v, want ErrBusy", maxSuspectQueue+1, err)
	}
	close(hold)
	wg.Wait()
}
