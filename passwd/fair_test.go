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
