package broker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RequestTarpit holds the HTTP logins of addresses in login backoff in a
// process that runs no broker (mqflux bridge), with the bounds and counts
// of the broker's tarpit: a guesser told 429 at once goes straight round
// again, and each round costs an accept, a request and an answer. Its
// holds end with their requests' contexts (server/tarpit.go ends them
// when the HTTP server shuts down).
type RequestTarpit struct{ t *tarpit }

// NewRequestTarpit bounds its holds by c; wait is how long an address's
// backoff lasts still (passwd.Checker.BackoffWait).
func NewRequestTarpit(c TarpitConfig, wait func(remote string) time.Duration) *RequestTarpit {
	// Nothing but requests is held: no MQTT connection to read or refuse.
	return &RequestTarpit{t: newTarpit(c, wait, 0, 0, func(string, string) {})}
}

// Hold implements passwd.Tarpit.
func (r *RequestTarpit) Hold(ctx context.Context, remote, listener string) bool {
	return r.t.Hold(ctx, remote, listener)
}

// Describe and Collect export mqflux_tarpit_held_total and
// mqflux_tarpit_holding by listener, as the broker does.
func (r *RequestTarpit) Describe(ch chan<- *prometheus.Desc) {
	ch <- tarpitHeldByDesc
	ch <- tarpitHoldingByDesc
}

func (r *RequestTarpit) Collect(ch chan<- prometheus.Metric) {
	held, holding := r.t.byListener()
	collectTarpitBy(ch, held, holding)
}
