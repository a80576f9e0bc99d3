package broker

import (
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// infoCollector exposes mochi's own counters at scrape time, and the
// messages dropped for full offline queues (offlineLimit).
type infoCollector struct {
	srv                                                  *mqtt.Server
	offlineDropped                                       *atomic.Int64
	clients, received, sent, dropped, inflight, retained *prometheus.Desc
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

func newInfoCollector(srv *mqtt.Server, offlineDropped *atomic.Int64) *infoCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &infoCollector{
		srv:            srv,
		offlineDropped: offlineDropped,
		clients:        d("mqflux_mqtt_clients_connected", "MQTT clients connected now."),
		received:       d("mqflux_mqtt_messages_received_total", "PUBLISH packets received."),
		sent:           d("mqflux_mqtt_messages_sent_total", "PUBLISH packets sent to subscribers."),
		dropped: prometheus.NewDesc("mqflux_mqtt_messages_dropped_total",
			"Messages the broker did not queue for a subscriber, by the limit that was reached.", []string{"reason"}, nil),
		inflight: d("mqflux_mqtt_inflight_messages", "QoS 1/2 messages awaiting acknowledgement by subscribers."),
		retained: d("mqflux_mqtt_retained_messages", "Retained messages held."),
	}
}

func (c *infoCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.clients, c.received, c.sent, c.dropped, c.inflight, c.retained} {
		ch <- d
	}
}

func (c *infoCollector) Collect(ch chan<- prometheus.Metric) {
	i := c.srv.Info
	g := func(d *prometheus.Desc, t prometheus.ValueType, v int64) {
		ch <- prometheus.MustNewConstMetric(d, t, float64(v))
	}
	g(c.clients, prometheus.GaugeValue, atomic.LoadInt64(&i.ClientsConnected))
	g(c.received, prometheus.CounterValue, atomic.LoadInt64(&i.MessagesReceived))
	g(c.sent, prometheus.CounterValue, atomic.LoadInt64(&i.MessagesSent))
	for reason, n := range map[string]int64{
		dropQueueFull:        atomic.LoadInt64(&i.MessagesDropped),
		dropInflightFull:     atomic.LoadInt64(&i.InflightDropped),
		dropOfflineQueueFull: c.offlineDropped.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n), reason)
	}
	g(c.inflight, prometheus.GaugeValue, inflight(c.srv))
	g(c.retained, prometheus.GaugeValue, atomic.LoadInt64(&i.Retained))
}

// inflight counts the messages held in the sessions themselves. mochi's own
// counter (Info.Inflight, and $SYS/broker/messages/inflight) drifts below
// zero: when a client resumes a persistent session its queued messages are
// copied to the new session and counted off the old one, then counted off
// again as the new one's PUBACKs come in; and messages restored at a
// restart are counted off without having been counted on.
func inflight(srv *mqtt.Server) int64 {
	var n int64
	for _, cl := range srv.Clients.GetAll() {
		n += int64(cl.State.Inflight.Len())
	}
	return n
}
