// Package backoff spaces the attempts at something that failed: waits that
// double up to a cap, optionally jittered, a sleep that ends with its
// context, and the reading of an HTTP Retry-After header. It links only the
// standard library (not even net/http), so the device agent can use it.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is a doubling wait: Min before the first retry, twice that before
// the next, up to Max. A Max below Min is Min; the zero Policy does not
// wait.
type Policy struct {
	Min, Max time.Duration
	// Jitter draws each wait from the upper half of the nominal one, so
	// that clients which failed together spread out yet none comes back
	// sooner than half the nominal wait, and adds up to a tenth to a
	// retry-after, so that clients throttled together do not return
	// together.
	Jitter bool
}

// Next is the nominal wait after prev: Min when prev is 0, else twice prev,
// at most Max. It is for loops that keep the last wait rather than a count.
func (p Policy) Next(prev time.Duration) time.Duration {
	lo := max(p.Min, 0)
	if prev <= 0 {
		return lo
	}
	return min(2*prev, max(p.Max, lo))
}

// Delay is how long to wait before attempt+1, attempt 0 being the first
// retry. A retryAfter above 0 (what the other side asked for) wins over
// the doubling.
func (p Policy) Delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		if p.Jitter {
			return retryAfter + upTo(retryAfter/10)
		}
		return retryAfter
	}
	d := p.Next(0)
	for i := 0; i < attempt && d < p.Max; i++ {
		d = p.Next(d)
	}
	if p.Jitter {
		return d/2 + upTo(d/2)
	}
	return d
}

// upTo is a random duration in [0, d].
func upTo(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// Sleep waits d or until ctx is done, and then returns ctx.Err(). A d of 0
// or less does not wait (nor make a timer: callers pace in tight loops).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
