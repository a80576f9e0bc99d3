// Package passwd hashes and checks the secrets mqflux keeps in its
// configuration: MQTT passwords and legacy HTTP API keys, always as bcrypt
// hashes, never in plain text.
package passwd

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"
)

// DefaultCost is bcrypt's default; a check costs tens of milliseconds, which
// is why Checker remembers the secrets it has already verified.
const DefaultCost = bcrypt.DefaultCost

// MinLength is the shortest secret Hash accepts.
const MinLength = 8

// Hash returns the bcrypt hash of secret, for the config file.
func Hash(secret []byte, cost int) (string, error) {
	if len(secret) < MinLength {
		return "", fmt.Errorf("password too short: %d characters, at least %d", len(secret), MinLength)
	}
	if len(secret) > 72 {
		return "", errors.New("password too long: bcrypt uses at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword(secret, cost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	return string(h), nil
}

// ValidHash reports whether hash is a bcrypt hash that Check can use.
func ValidHash(hash string) error {
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("not a bcrypt hash (make one with `mqflux passwd`): %w", err)
	}
	return nil
}

// Checker verifies secrets against bcrypt hashes and remembers each success,
// so a device reconnecting or a logger posting every second pays bcrypt once
// per process rather than once per request. The memory is keyed by a salted
// SHA-256 of hash and secret: it never holds a secret, and a digest leaked
// from memory cannot be checked offline without the per-process salt. A
// config change builds a new Checker, so nothing outlives the hash it was
// checked against. Failures are not remembered: a wrong password always pays
// the full bcrypt cost.
//
// Concurrent checks of the same hash and secret share one bcrypt: after a
// restart every device reconnects at once, and without this each of them
// would pay bcrypt before the first success is remembered (100 gateways'
// connections cost 7 CPU seconds on a 2-core machine).
//
// Because failures cost a full bcrypt, a Checker also defends the CPU
// against whoever sends them: at most half the CPUs (at least one) run
// bcrypt at once, a bounded number of checks wait for a turn and the rest
// fail at once with ErrBusy. A remembered secret is answered from memory
// and never waits behind those. Admit and Record keep a per-address
// backoff for the callers that know the remote address, and Refuse spends
// on an unknown account what Verify spends on a known one, so the answer's
// timing does not tell which names exist. VerifyFrom and RefuseFrom tell
// the limiter where a check comes from: an address with recent failures
// waits in a queue of its own, behind those without (see limiter).
type Checker struct {
	salt     [32]byte
	mu       sync.RWMutex
	ok       map[[32]byte]struct{}
	inFlight singleflight.Group
	limit    *limiter
	backoff  *backoff
	compare  func(hash, secret []byte) error // bcrypt's; tests count calls
	dummy    string                          // what Refuse compares against
}

// Errors of Verify, Refuse and Admit.
var (
	ErrMismatch = errors.New("secret does not match")
	ErrBusy     = errors.New("too many secret checks waiting: try again later")
	ErrBackoff  = errors.New("too many failed logins from this address: try again later")
)

// dummyHash is what Refuse compares against unless WithHashes names a
// higher cost: a bcrypt hash at DefaultCost, the cost `mqflux passwd`
// hashes with, so an unknown account takes as long as a known one. Its
// secret is irrelevant: Refuse fails whatever matches.
const dummyHash = "$2a$10$EeSwwadr7M4GrYqrDm3m4ezeak3Dsuww4UcTZa4p0pZdR/1t4h.I."

// NewChecker returns a Checker with an empty memory and a fresh salt.
func NewChecker(opts ...Option) *Checker {
	c := &Checker{
		ok:      make(map[[32]byte]struct{}),
		limit:   newLimiter(defaultSlots(), defaultQueue),
		backoff: newBackoff(),
		compare: bcrypt.CompareHashAndPassword,
		dummy:   dummyHash,
	}
	for _, o := range opts {
		o(c)
	}
	// crypto/rand.Read never returns an error: it would rather stop the
	// process than hand out predictable bytes.
	_, _ = rand.Read(c.salt[:])
	return c
}

// Option changes a Checker's defaults.
type Option func(*Checker)

// WithLimit runs at most slots bcrypt comparisons at once, with at most
// queue more waiting for a turn.
func WithLimit(slots, queue int) Option {
	return func(c *Checker) { c.limit = newLimiter(slots, queue) }
}

// WithHashes makes Refuse cost what the dearest of the configured hashes
// costs: with a cost-12 hash among cost-10 ones, an unknown name answered
// in a quarter of the time of that account (61 ms against 237 ms), which
// told which names exist. The dummy hash is made once, here, at the
// highest cost among hashes (at least DefaultCost); what is not a bcrypt
// hash is skipped.
func WithHashes(hashes ...string) Option {
	return func(c *Checker) {
		cost := DefaultCost
		for _, h := range hashes {
			if hc, err := bcrypt.Cost([]byte(h)); err == nil {
				cost = max(cost, hc)
			}
		}
		if cost == DefaultCost {
			return
		}
		var secret [32]byte
		_, _ = rand.Read(secret[:])
		if h, err := bcrypt.GenerateFromPassword(secret[:], cost); err == nil {
			c.dummy = string(h)
		}
	}
}

// Check reports whether secret matches the bcrypt hash; a check refused as
// busy is a false.
func (c *Checker) Check(hash string, secret []byte) bool {
	return c.Verify(hash, secret) == nil
}

// Verify returns nil when secret matches the bcrypt hash, ErrMismatch when
// it does not, and ErrBusy when too many checks are waiting to say.
func (c *Checker) Verify(hash string, secret []byte) error {
	return c.VerifyFrom("", hash, secret)
}

// VerifyFrom is Verify for a check from remote ("host:port", a host, or ""
// when unknown): one from an address with recent failures waits behind
// those from addresses without.
func (c *Checker) VerifyFrom(remote, hash string, secret []byte) error {
	clean := c.clean(remote)
	key := c.key(hash, secret)
	c.mu.RLock()
	_, seen := c.ok[key]
	c.mu.RUnlock()
	if seen {
		return nil
	}
	v, _, _ := c.inFlight.Do(string(key[:]), func() (any, error) {
		var err error
		if busy := c.limit.run(clean, func() { err = c.compare([]byte(hash), secret) }); busy != nil {
			return busy, nil
		}
		if err != nil {
			return ErrMismatch, nil
		}
		c.mu.Lock()
		c.ok[key] = struct{}{}
		c.mu.Unlock()
		return nil, nil
	})
	err, _ := v.(error)
	return err
}

// Refuse is Verify for an account that does not exist: it spends the same
// bcrypt (that of the dearest configured hash, WithHashes), under the same
// limit, and returns ErrMismatch (or ErrBusy).
func (c *Checker) Refuse(secret []byte) error { return c.RefuseFrom("", secret) }

// RefuseFrom is Refuse for a check from remote, as VerifyFrom.
func (c *Checker) RefuseFrom(remote string, secret []byte) error {
	if busy := c.limit.run(c.clean(remote), func() { _ = c.compare([]byte(c.dummy), secret) }); busy != nil {
		return busy
	}
	return ErrMismatch
}

// clean reports whether remote has no recent failures; an unknown remote
// ("") counts as clean.
func (c *Checker) clean(remote string) bool {
	return remote == "" || !c.backoff.failing(remote)
}

// Admit returns ErrBackoff while remote ("host:port" or a host) is refused
// for its recent failures; call it before Verify.
func (c *Checker) Admit(remote string) error { return c.backoff.admit(remote) }

// BackoffWait is how long remote is still refused for its recent
// failures; 0 when it is not. A server can tell from it, before reading
// anything, that a new connection's login will be refused (the broker's
// tarpit).
func (c *Checker) BackoffWait(remote string) time.Duration { return c.backoff.wait(remote) }

// Record tells the backoff how a login from remote ended: ok forgets the
// address's failures, a failure counts against it. A refusal as busy is
// recorded as a failure too: an address whose checks keep finding the
// queue full is backed off like one that keeps guessing wrong (when busy
// refusals counted for nothing, 32 guessers were never backed off).
func (c *Checker) Record(remote string, ok bool) { c.backoff.record(remote, ok) }

func (c *Checker) key(hash string, secret []byte) [32]byte {
	h := sha256.New()
	h.Write(c.salt[:])
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write(secret)
	var k [32]byte
	h.Sum(k[:0])
	return k
}
