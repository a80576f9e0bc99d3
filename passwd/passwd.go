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
type Checker struct {
	salt     [32]byte
	mu       sync.RWMutex
	ok       map[[32]byte]struct{}
	inFlight singleflight.Group
	compare  func(hash, secret []byte) error // bcrypt's; tests count calls
}

// NewChecker returns a Checker with an empty memory and a fresh salt.
func NewChecker() *Checker {
	c := &Checker{ok: make(map[[32]byte]struct{}), compare: bcrypt.CompareHashAndPassword}
	// crypto/rand.Read never returns an error: it would rather stop the
	// process than hand out predictable bytes.
	_, _ = rand.Read(c.salt[:])
	return c
}

// Check reports whether secret matches the bcrypt hash.
func (c *Checker) Check(hash string, secret []byte) bool {
	key := c.key(hash, secret)
	c.mu.RLock()
	_, seen := c.ok[key]
	c.mu.RUnlock()
	if seen {
		return true
	}
	v, _, _ := c.inFlight.Do(string(key[:]), func() (any, error) {
		if c.compare([]byte(hash), secret) != nil {
			return false, nil
		}
		c.mu.Lock()
		c.ok[key] = struct{}{}
		c.mu.Unlock()
		return true, nil
	})
	return v.(bool)
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
