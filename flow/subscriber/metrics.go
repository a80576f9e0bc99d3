package subscriber

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connected         prometheus.Gauge
	connects, lost    prometheus.Counter
	received          prometheus.Counter
	acked             *prometheus.CounterVec // {result}
	notAcked          *prometheus.CounterVec // {reason}
	retries           *prometheus.CounterVec // {reason}
	subscribeFailures prometheus.Counter
	queued            prometheus.GaugeFunc
}

func newMetrics(queued func() float64) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	cv := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	}
	return &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mqflux_bridge_connected",
			Help: "1 while the bridge is connected to the external broker, else 0."}),
		connects:          c("mqflux_bridge_connects_total", "Successful connections to the external broker, reconnections included."),
		lost:              c("mqflux_bridge_connections_lost_total", "Connections to the external broker that broke."),
		received:          c("mqflux_bridge_messages_received_total", "Messages received from the external broker, redeliveries included."),
		subscribeFailures: c("mqflux_bridge_subscribe_failures_total", "Subscriptions the external broker refused or did not answer."),
		acked: cv("mqflux_bridge_messages_acked_total",
			"Messages acknowledged to the external broker (PUBACKs go out in arrival order), by result: spooled, rejected (dead-lettered), ignored_topic (no mapping wants it), ignored_retained (a replay of a retained message on subscribe).",
			"result"),
		notAcked: cv("mqflux_bridge_messages_not_acked_total",
			"Messages left unacknowledged for the broker to redeliver to this persistent session, by reason: connection_lost, shutdown (messages spooled behind one that was not acknowledged included).",
			"reason"),
		retries: cv("mqflux_bridge_ingest_retries_total",
			"Attempts to spool a message that failed and will be retried, by reason: spool_full, spool_error.",
			"reason"),
		queued: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mqflux_bridge_queued_messages",
			Help: "Messages received and waiting for the spool (not yet acknowledged)."}, queued),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.connected, m.connects, m.lost, m.received, m.acked, m.notAcked,
		m.retries, m.subscribeFailures, m.queued}
}
