package broker

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RequestTarpit holds the HTTP logins of addresses in login backoff in a
// process that runs no broker (mqflux bridge), with the bounds and counts
// of the broker's tarpit: a guesser told 429 at once goes straight round
// again, and each round costs an accept, a request and an answer.
type RequestTarpit struct {
	t                     *tarpit
	heldDesc, holdingDesc *prometheus.Desc
}

// NewRequestTarpit bounds its holds by c; wait is how long an address's
// backoff lasts still (passwd.Checker.BackoffWait).
func NewRequestTarpit(c TarpitConfig, wait func(remote string) time.Duration) *RequestTarpit {
	d := newStatsCollector(nil)
	return &RequestTarpit{
		t:        newTarpit(c, wait, 0, 0, func(string, string) {}),
		heldDesc: d.tarpitHeldBy, holdingDesc: d.tarpitHoldingBy,
	}
}

// Hold implements passwd.Tarpit.
func (r *RequestTarpit) Hold(ctx context.Context, remote, listener string) bool {
	return r.t.Hold(ctx, remote, listener)
}

// Close ends every hold.
func (r *RequestTarpit) Close() { r.t.close() }

// Describe and Collect export mqflux_tarpit_held_total and
// mqflux_tarpit_holding by listener, as the broker does.
func (r *RequestTarpit) Describe(ch chan<- *prometheus.Desc) {
	ch <- r.heldDesc
	ch <- r.holdingDesc
}

func (r *RequestTarpit) Collect(ch chan<- prometheus.Metric) {
	held, holding := r.t.byListener()
	for l, n := range held {
		ch <- prometheus.MustNewConstMetric(r.heldDesc, prometheus.CounterValue, float64(n), l)
	}
	for l, n := range holding {
		ch <- prometheus.MustNewConstMetric(r.holdingDesc, prometheus.GaugeValue, float64(n), l)
	}
}
