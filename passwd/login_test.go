package passwd

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Login admits, verifies a known account or refuses an unknown one, and
// records the end: each step's outcome, and what it leaves for the next
// login from the same address.
func TestLogin(t *testing.T) {
	hash, err := Hash([]byte("right-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker()
	b, clk := testBackoff()
	c.backoff = b
	login := func(remote string, known bool, secret string) Outcome {
		return c.Login(remote, true, c.Hashed(remote, hash, known, []byte(secret)), []byte(secret))
	}
	const guesser, other = "192.0.2.1:1000", "192.0.2.2:1000"
	for _, tc := range []struct {
		name   string
		out    Outcome
		result Result
	}{
		{"nothing presented", c.Login(guesser, false, Account{}, nil), NoUser},
		{"right secret", login(other, true, "right-secret"), OK},
		{"wrong secret", login(guesser, true, "wrong-secret"), BadSecret},
		{"unknown account", login(guesser, false, "right-secret"), Unknown},
		{"busy", c.Login(guesser, true, Account{Known: true, Verify: func() error { return ErrBusy }}, nil), Busy},
	} {
		if tc.out.Result != tc.result {
			t.Errorf("%s: %s, want %s", tc.name, tc.out.Result, tc.result)
		}
		if want := tc.result == Busy; (tc.out.RetryAfter > 0) != want {
			t.Errorf("%s: Retry-After %v", tc.name, tc.out.RetryAfter)
		}
	}
	// Those were three failures (busy counts); three more start the
	// backoff, which refuses even the right secret, and says for how long.
	for range 3 {
		login(guesser, true, "wrong-secret")
	}
	out := login(guesser, true, "right-secret")
	if out.Result != Backoff || out.RetryAfter != time.Second || out.RetryAfterSeconds() != 1 {
		t.Fatalf("after 6 failures: %+v, want backoff for 1s", out)
	}
	if out := login(other, true, "right-secret"); out.Result != OK {
		t.Errorf("another address: %s", out.Result)
	}
	clk.t = clk.t.Add(time.Second)
	if out := login(guesser, true, "right-secret"); out.Result != OK {
		t.Errorf("after the backoff: %s", out.Result)
	}
}

// holdingTarpit stands for the broker's tarpit: it passes time on the
// clock for each hold (what the hold would have waited) and records who
// it held.
type holdingTarpit struct {
	clk   *clock
	wait  time.Duration
	full  bool
	calls []string
}

func (h *holdingTarpit) Hold(_ context.Context, remote, listener string) bool {
	h.calls = append(h.calls, remote+" "+listener)
	if h.full {
		return false
	}
	h.clk.t = h.clk.t.Add(h.wait)
	return true
}

// Only a backoff refusal is held; after the hold its Retry-After is what
// is left of the backoff, and one refused a place keeps the whole wait.
func TestHoldBackoffInTarpit(t *testing.T) {
	c := NewChecker()
	b, clk := testBackoff()
	c.backoff = b
	const guesser = "192.0.2.1:1000"
	for range 6 {
		b.record(guesser, false)
	}
	backoff := Outcome{Result: Backoff, RetryAfter: c.BackoffWait(guesser)}
	for _, tc := range []struct {
		name      string
		tp        *holdingTarpit
		out, want Outcome
		held      bool
	}{
		{"not a backoff", &holdingTarpit{clk: clk}, Outcome{Result: BadSecret}, Outcome{Result: BadSecret}, false},
		{"busy", &holdingTarpit{clk: clk}, Outcome{Result: Busy, RetryAfter: BusyRetryAfter}, Outcome{Result: Busy, RetryAfter: BusyRetryAfter}, false},
		{"full", &holdingTarpit{clk: clk, full: true}, backoff, backoff, true},
		{"held part of it", &holdingTarpit{clk: clk, wait: 400 * time.Millisecond}, backoff, Outcome{Result: Backoff, RetryAfter: 600 * time.Millisecond}, true},
		{"held all of it", &holdingTarpit{clk: clk, wait: 600 * time.Millisecond}, Outcome{Result: Backoff, RetryAfter: 600 * time.Millisecond}, Outcome{Result: Backoff}, true},
	} {
		got := c.HoldBackoff(context.Background(), tc.tp, guesser, "http", tc.out)
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		if held := len(tc.tp.calls) > 0; held != tc.held || (held && tc.tp.calls[0] != guesser+" http") {
			t.Errorf("%s: tarpit asked %v", tc.name, tc.tp.calls)
		}
	}
	if got := c.HoldBackoff(context.Background(), nil, guesser, "http", backoff); got != backoff {
		t.Errorf("no tarpit: %+v, want %+v", got, backoff)
	}
	if got := (Outcome{Result: Backoff}).RetryAfterSeconds(); got != 1 {
		t.Errorf("a backoff over after its hold: Retry-After %d, want 1", got)
	}
}
