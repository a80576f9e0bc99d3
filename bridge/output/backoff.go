package output

import (
	"context"
	"math/rand/v2"
	"time"
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

// Delay is how long to wait before attempt+1. A retryAfter from the sink
// wins (plus up to 10% so writers it throttled together do not return
// together); otherwise the wait doubles from Min up to Max and is drawn from
// its upper half, so concurrent writers spread out yet never hammer a
// struggling sink sooner than half the nominal wait.
func (b Backoff) Delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter + jitter(retryAfter/10)
	}
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	hi = max(hi, lo)
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + jitter(d/2)
}

func jitter(upTo time.Duration) time.Duration {
	if upTo <= 0 {
		return 0
	}
	return rand.N(upTo + 1)
}

// Sleep waits d or until ctx is done, and then returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
