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

	"golang.org/x/crypto/bcrypt"
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
// Concurrent checks of the same hash and secret share one bcrypt
// comparison: after a restart every device of a gateway, or every device
// sharing a password, reconnects at once, and each would otherwise pay
// bcrypt before the first success was remembered.
type Checker struct {
	salt    [32]byte
	compare func(hash, secret []byte) error // bcrypt; tests count the calls

	mu   sync.Mutex
	ok   map[[32]byte]struct{}
	busy map[[32]byte]*comparison // under way, shared by concurrent checks
}

type comparison struct {
	done    chan struct{} // closed once ok is set
	ok      bool
	waiters int // checks sharing it; guarded by Checker.mu
}

// NewChecker returns a Checker with an empty memory and a fresh salt.
func NewChecker() *Checker {
	c := &Checker{compare: bcrypt.CompareHashAndPassword,
		ok: make(map[[32]byte]struct{}), busy: make(map[[32]byte]*comparison)}
	// crypto/rand.Read never returns an error: it would rather stop the
	// process than hand out predictable bytes.
	_, _ = rand.Read(c.salt[:])
	return c
}

// Check reports whether secret matches the bcrypt hash.
func (c *Checker) Check(hash string, secret []byte) bool {
	key := c.key(hash, secret)
	c.mu.Lock()
	if _, seen := c.ok[key]; seen {
		c.mu.Unlock()
		return true
	}
	if cmp, running := c.busy[key]; running {
		cmp.waiters++
		c.mu.Unlock()
		<-cmp.done
		return cmp.ok
	}
	cmp := &comparison{done: make(chan struct{})}
	c.busy[key] = cmp
	c.mu.Unlock()

	cmp.ok = c.compare([]byte(hash), secret) == nil
	c.mu.Lock()
	if cmp.ok {
		c.ok[key] = struct{}{}
	}
	delete(c.busy, key)
	c.mu.Unlock()
	close(cmp.done)
	return cmp.ok
}

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
