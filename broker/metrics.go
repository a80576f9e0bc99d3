package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// statsCollector is the Prometheus view of the broker's Stats, read at
// scrape time.
type statsCollector struct {
	b                                                  *Broker
	clients, subscriptions, received, sent, dropped    *prometheus.Desc
	inflight, retained, retainedBytes, retainedRefused *prometheus.Desc
	refused, denied                                    *prometheus.Desc
	tarpitHeld, tarpitHolding                          *prometheus.Desc
}

// The reasons of mqflux_mqtt_messages_dropped_total.
const (
	// dropQueueFull: a connected subscriber's write queue (max_queued).
	dropQueueFull = "queue_full"
	// dropInflightFull: a session's unacknowledged messages (max_inflight),
	// or its packet ids, ran out.
	dropInflightFull = "inflight_full"
	// dropOfflineQueueFull: an offline session's queue (max_offline_queue).
	dropOfflineQueueFull = "offline_queue_full"
)

func newStatsCollector(b *Broker) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &statsCollector{
		b:             b,
		clients:       d("mqflux_mqtt_clients_connected", "MQTT clients connected now."),
		subscriptions: d("mqflux_mqtt_subscriptions", "Subscriptions held now, offline sessions' included."),
		received:      d("mqflux_mqtt_messages_received_total", "PUBLISH packets received."),
		sent:          d("mqflux_mqtt_messages_sent_total", "PUBLISH packets sent to subscribers."),
		dropped: d("mqflux_mqtt_messages_dropped_total",
			"Messages the broker did not queue for a subscriber, by the limit that was reached.", "reason"),
		inflight:      d("mqflux_mqtt_inflight_messages", "QoS 1/2 messages awaiting acknowledgement by subscribers."),
		retained:      d("mqflux_mqtt_retained_messages", "Retained messages held."),
		retainedBytes: d("mqflux_mqtt_retained_bytes", "Bytes (topic and payload) of the retained messages held."),
		retainedRefused: d("mqflux_mqtt_retained_refused_total",
			"Retained publishes past broker.max_retained_per_user (reason count) or broker.max_retained_bytes (reason bytes): MQTT 5 QoS 1/2 answered 0x97, others delivered but not retained.", "reason"),
		refused: d("mqflux_mqtt_publish_refused_total",
			"Publishes not acknowledged, so that the publisher resends them (spool full, draining, spool error).", "reason"),
		denied: d("mqflux_mqtt_denied_total", "Connections and operations refused by authentication or ACL.", "what", "reason"),
		tarpitHeld: d("mqflux_mqtt_tarpit_held_total",
			"Connections from addresses in login backoff held (at most broker.tarpit.max_hold) before their refusal."),
		tarpitHolding: d("mqflux_mqtt_tarpit_holding", "Connections held by the tarpit now."),
	}
}

// The tarpit's counts by listener, of the broker's tarpit and of a
// RequestTarpit's.
var (
	tarpitHeldByDesc = prometheus.NewDesc("mqflux_tarpit_held_total",
		"MQTT connections and HTTP requests from addresses in login backoff held (at most broker.tarpit.max_hold) before their refusal, by listener (tcp, tls, ws, http).",
		[]string{"listener"}, nil)
	tarpitHoldingByDesc = prometheus.NewDesc("mqflux_tarpit_holding",
		"MQTT connections and HTTP requests held by the tarpit now, by listener.", []string{"listener"}, nil)
)

// collectTarpitBy sends what a tarpit has held so far and holds now, by
// listener.
func collectTarpitBy(ch chan<- prometheus.Metric, held, holding map[string]int64) {
	for l, n := range held {
		ch <- prometheus.MustNewConstMetric(tarpitHeldByDesc, prometheus.CounterValue, float64(n), l)
	}
	for l, n := range holding {
		ch <- prometheus.MustNewConstMetric(tarpitHoldingByDesc, prometheus.GaugeValue, float64(n), l)
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.clients, c.subscriptions, c.received, c.sent, c.dropped, c.inflight,
		c.retained, c.retainedBytes, c.retainedRefused, c.refused, c.denied, c.tarpitHeld, c.tarpitHolding,
		tarpitHeldByDesc, tarpitHoldingByDesc} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	g := func(d *prometheus.Desc, t prometheus.ValueType, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, float64(v), labels...)
	}
	g(c.clients, prometheus.GaugeValue, st.ClientsConnected)
	g(c.subscriptions, prometheus.GaugeValue, st.Subscriptions)
	g(c.received, prometheus.CounterValue, st.MessagesReceived)
	g(c.sent, prometheus.CounterValue, st.MessagesSent)
	for reason, n := range st.Dropped {
		g(c.dropped, prometheus.CounterValue, n, reason)
	}
	g(c.inflight, prometheus.GaugeValue, st.Inflight)
	g(c.retained, prometheus.GaugeValue, st.Retained)
	g(c.retainedBytes, prometheus.GaugeValue, st.RetainedBytes)
	for reason, n := range st.RetainedRefused {
		g(c.retainedRefused, prometheus.CounterValue, n, reason)
	}
	for reason, n := range st.PublishRefused {
		g(c.refused, prometheus.CounterValue, n, reason)
	}
	g(c.tarpitHeld, prometheus.CounterValue, st.TarpitHeld)
	g(c.tarpitHolding, prometheus.GaugeValue, st.TarpitHolding)
	collectTarpitBy(ch, st.TarpitHeldBy, st.TarpitHoldingBy)
	for what, byReason := range st.Denied {
		for reason, n := range byReason {
			g(c.denied, prometheus.CounterValue, n, what, reason)
		}
	}
}

// inflight counts the messages held in the sessions themselves. mochi's own
// counter (Info.Inflight, and $SYS/broker/messages/inflight) drifts below
// zero: messages restored at a restart are counted off without having been
// counted on. (A session taken over no longer counts its queue off twice:
// PATCHES.md, "A session taken over keeps the deliveries made during the
// takeover".)
func inflight(srv *mqtt.Server) int64 {
	var n int64
	for _, cl := range srv.Clients.GetAll() {
		n += int64(cl.State.Inflight.Len())
	}
	return n
}
