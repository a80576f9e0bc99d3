package influxwriter

import "github.com/prometheus/client_golang/prometheus"

// metrics belong to one Writer; the caller registers them where it likes.
type metrics struct {
	points       prometheus.Counter
	rejected     prometheus.Counter
	requests     *prometheus.CounterVec
	retries      *prometheus.CounterVec
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
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "mqflux_influx_retries_total",
			ConstLabels: l,
			Help:        "Write requests that will be retried, by reason: network, timeout, throttled, server_error, unauthorized, not_found, unexpected_status.",
		}, []string{"reason"}),
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
