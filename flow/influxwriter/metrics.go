package influxwriter

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/output"
)

// metrics belong to one Writer; the caller registers them where it likes.
type metrics struct {
	points       prometheus.Counter
	rejected     prometheus.Counter
	requests     *prometheus.CounterVec
	retries      *retryCounts
	writeSeconds prometheus.Histogram
	up           prometheus.Gauge
}

// newMetrics labels every metric output=name, so that the metrics of two
// writers in one process do not clash.
func newMetrics(name string) *metrics {
	l := prometheus.Labels{"output": name}
	return &metrics{
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "mqflux_influx_points_written_total",
			ConstLabels: l,
			Help:        "Lines of line protocol InfluxDB accepted (a record rewritten while bisecting a refused batch counts again).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "mqflux_influx_records_rejected_total",
			ConstLabels: l,
			Help:        "Records InfluxDB refused as malformed; they are handed back to the caller, never retried.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "mqflux_influx_requests_total",
			ConstLabels: l,
			Help:        `Write requests by answer: "2xx", an HTTP status code, "network" or "timeout".`,
		}, []string{"code"}),
		retries: &retryCounts{desc: prometheus.NewDesc("mqflux_influx_retries_total",
			"Write requests that will be retried, by reason: network, timeout, throttled, server_error, unauthorized, not_found, unexpected_status.",
			[]string{"reason"}, l)},
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "mqflux_influx_write_seconds",
			ConstLabels: l,
			Help:        "Duration of successful write requests.",
			Buckets:     prometheus.ExponentialBuckets(0.001, 2.5, 12), // 1ms .. ~60s
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "mqflux_influx_up",
			ConstLabels: l,
			Help:        "1 when the last write request reached InfluxDB and was not refused for credentials or configuration.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.points, m.rejected, m.requests, m.retries, m.writeSeconds, m.up}
}

// retryCounts counts the write requests to be retried, by reason: the one
// record that Stats (the views) and the metric both read.
type retryCounts struct {
	desc *prometheus.Desc
	mu   sync.RWMutex
	m    map[string]*atomic.Int64
}

func (r *retryCounts) inc(reason string) {
	r.mu.RLock()
	c := r.m[reason]
	r.mu.RUnlock()
	if c == nil {
		r.mu.Lock()
		if c = r.m[reason]; c == nil {
			if r.m == nil {
				r.m = map[string]*atomic.Int64{}
			}
			c = new(atomic.Int64)
			r.m[reason] = c
		}
		r.mu.Unlock()
	}
	c.Add(1)
}

func (r *retryCounts) snapshot() map[string]int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]int64, len(r.m))
	for reason, c := range r.m {
		out[reason] = c.Load()
	}
	return out
}

func (r *retryCounts) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *retryCounts) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range r.snapshot() {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, float64(n), reason)
	}
}

// Stats are the writer's own counts: its retries by reason.
func (w *Writer) Stats() output.Stats {
	return output.Stats{Retries: w.metrics.retries.snapshot()}
}
