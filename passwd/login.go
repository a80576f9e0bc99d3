package passwd

import (
	"context"
	"errors"
	"time"
)

// Result is how a login ended. Each protocol maps it to its own answer in
// one place: the broker to a refused CONNECT and a reason label, HTTP to
// 401 or 429 with Retry-After, the legacy API to its problem answers.
type Result string

// Results of Login; the strings are the refusal metrics' reason labels.
const (
	OK        Result = "ok"
	NoUser    Result = "no_user"      // no user name (or secret) presented
	Backoff   Result = "backoff"      // the address keeps failing: refused without a check
	Busy      Result = "busy"         // too many checks waiting: refused without an answer
	Unknown   Result = "unknown_user" // no such account; it cost what a known one does
	BadSecret Result = "bad_password" // the account exists, the secret is wrong
)

// BusyRetryAfter is what a login refused as busy is told to wait.
const BusyRetryAfter = 5 * time.Second

// Outcome is the result of a login and, for Backoff and Busy, how long the
// client should wait before it tries again.
type Outcome struct {
	Result     Result
	RetryAfter time.Duration
}

// Refused reports whether the login failed.
func (o Outcome) Refused() bool { return o.Result != OK }

// Account is what a login is checked against: Verify is asked only when
// the account exists, and spends what a check of it costs.
type Account struct {
	Known bool
	// Verify checks the presented secret: nil, ErrMismatch or ErrBusy.
	Verify func() error
}

// Hashed is the Account of a single bcrypt hash (known false for a name
// with no account), checked by c for a login from remote.
func (c *Checker) Hashed(remote, hash string, known bool, secret []byte) Account {
	return Account{Known: known, Verify: func() error { return c.VerifyFrom(remote, hash, secret) }}
}

// Login is the one login path of every protocol: admit the address (a
// failing one is refused without bcrypt), verify the secret of a known
// account or spend the same bcrypt on an unknown one, and record the end
// against the address (a busy refusal counts as a failure, so an address
// whose checks keep finding the queue full is backed off too). presented
// reports whether a user name (or secret) was presented at all; a login
// without one is refused before any of that.
func (c *Checker) Login(remote string, presented bool, acct Account, secret []byte) Outcome {
	if !presented {
		return Outcome{Result: NoUser}
	}
	if wait := c.backoff.wait(remote); wait > 0 {
		return Outcome{Result: Backoff, RetryAfter: wait}
	}
	var err error
	if acct.Known {
		err = acct.Verify()
	} else {
		err = c.RefuseFrom(remote, secret)
	}
	c.Record(remote, err == nil && acct.Known)
	switch {
	case errors.Is(err, ErrBusy):
		return Outcome{Result: Busy, RetryAfter: BusyRetryAfter}
	case !acct.Known:
		return Outcome{Result: Unknown}
	case err != nil:
		return Outcome{Result: BadSecret}
	}
	return Outcome{Result: OK}
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up, at least 1:
// the value of an HTTP Retry-After header.
func (o Outcome) RetryAfterSeconds() int {
	s := int((o.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Tarpit holds a login refused for its address's backoff before the
// refusal is answered. Answered at once, a guesser in backoff goes straight
// round again, and each round costs the server an accept and an answer;
// held, it makes one attempt per hold.
type Tarpit interface {
	// Hold waits while remote's address is in backoff, bounded by the
	// tarpit, or until ctx ends; listener names where the login came
	// from ("http") for the tarpit's counts. It reports whether the login
	// was held: false at once past the tarpit's bounds.
	Hold(ctx context.Context, remote, listener string) bool
}

// HoldBackoff holds out, the outcome of a login from remote, in tp when
// it is a Backoff refusal, and returns it with what is left of the
// backoff after the hold as RetryAfter. Any other outcome, or a nil tp,
// is returned as it is.
func (c *Checker) HoldBackoff(ctx context.Context, tp Tarpit, remote, listener string, out Outcome) Outcome {
	if out.Result != Backoff || tp == nil {
		return out
	}
	if tp.Hold(ctx, remote, listener) {
		out.RetryAfter = c.BackoffWait(remote)
	}
	return out
}
