package output

import (
	"time"

	"github.com/mqflux/mqflux/internal/backoff"
)

// Defaults for a zero Backoff.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// Backoff spaces the attempts at a batch the sink did not settle.
type Backoff struct {
	Min, Max time.Duration // 0 means DefaultMinBackoff, DefaultMaxBackoff
}

// Delay is how long to wait before attempt+1: a jittered backoff.Policy,
// so concurrent writers spread out yet never hammer a struggling sink
// sooner than half the nominal wait; a retryAfter from the sink wins.
func (b Backoff) Delay(attempt int, retryAfter time.Duration) time.Duration {
	p := backoff.Policy{Min: b.Min, Max: b.Max, Jitter: true}
	if p.Min <= 0 {
		p.Min = DefaultMinBackoff
	}
	if p.Max <= 0 {
		p.Max = DefaultMaxBackoff
	}
	return p.Delay(attempt, retryAfter)
}
