package natsinput

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	resultSpooled  = "spooled"
	resultRejected = "rejected"
	resultIgnored  = "ignored_topic"
	resultNak      = "nak"
	resultStopped  = "stopped"
)

type metrics struct {
	received    prometheus.Counter
	settled     *prometheus.CounterVec // {result}
	pushedBack  *prometheus.CounterVec // {reason}
	ackErrors   prometheus.Counter
	fetchErrors prometheus.Counter
	warned      atomic.Bool
}

func newMetrics() *metrics {
	return &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqflux_nats_messages_received_total",
			Help: "Messages fetched from the JetStream consumer, redeliveries included."}),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqflux_nats_messages_settled_total",
			Help: "Messages answered to NATS, by result: spooled and rejected (dead-lettered) and ignored_topic are acknowledged, nak handed back after nak_delay, stopped handed back at shutdown."},
			[]string{"result"}),
		pushedBack: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqflux_nats_pushed_back_total",
			Help: "Messages the spool refused and that were handed back to NATS, by reason: spool_full, spool_error."},
			[]string{"reason"}),
		ackErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqflux_nats_ack_errors_total",
			Help: "Acknowledgements or NAKs that could not be sent; NATS hands those messages out again after ack_wait."}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqflux_nats_fetch_errors_total",
			Help: "Pull requests that failed (a node or the connection away); retried."}),
	}
}

// Collectors are the input's metrics; the server labels an inputs
// entry's with input="<name>".
func (in *Input) Collectors() []prometheus.Collector {
	return []prometheus.Collector{in.m.received, in.m.settled, in.m.pushedBack, in.m.ackErrors, in.m.fetchErrors}
}
