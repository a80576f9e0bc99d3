package influxwriter

import (
	"time"

	"github.com/mqflux/mqflux/internal/backoff"
)

// delay is how long to wait before attempt+1: the jittered doubling the
// pipeline uses for outputs that do not retry themselves, within the
// writer's bounds; a Retry-After from InfluxDB wins.
func (w *Writer) delay(attempt int, retryAfter time.Duration) time.Duration {
	return backoff.Policy{Min: w.cfg.MinBackoff, Max: w.cfg.MaxBackoff, Jitter: true}.Delay(attempt, retryAfter)
}
