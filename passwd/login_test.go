package passwd

import (
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
