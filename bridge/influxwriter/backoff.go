package influxwriter

import (
	"context"
	"math/rand/v2"
	"time"
)

// delay is how long to wait before attempt+1. A Retry-After from the server
// wins (plus up to 10% so writers it throttled together do not return
// together); otherwise the wait doubles from MinBackoff up to MaxBackoff and
// is drawn from its upper half, so concurrent writers spread out yet never
// hammer a struggling server sooner than half the nominal wait.
func (w *Writer) delay(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter + jitter(retryAfter/10)
	}
	d := w.cfg.MinBackoff
	for i := 0; i < attempt && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxBackoff)
	return d/2 + jitter(d/2)
}

func jitter(upTo time.Duration) time.Duration {
	if upTo <= 0 {
		return 0
	}
	return rand.N(upTo + 1)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
