package influxwriter

import (
	"time"

	"github.com/mqflux/mqflux/bridge/output"
)

// delay is how long to wait before attempt+1: output.Backoff with the
// writer's bounds, the same waits the pipeline uses for outputs that do not
// retry themselves.
func (w *Writer) delay(attempt int, retryAfter time.Duration) time.Duration {
	return output.Backoff{Min: w.cfg.MinBackoff, Max: w.cfg.MaxBackoff}.Delay(attempt, retryAfter)
}
