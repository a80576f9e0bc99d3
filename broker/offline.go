package broker

import (
	"log/slog"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// offlineLimit bounds the queue of a persistent session whose client is
// gone (broker.max_offline_queue). mochi would queue up to max_inflight
// (65,535) messages per session, keep them in memory, store them, and send
// them all before anything new when the client returns; a reader that
// closed its terminal is better served by the latest few thousand. Past
// the limit a message is not queued for that session: it is counted, and
// logged once for each time the session goes offline.
type offlineLimit struct {
	max     int
	log     *slog.Logger
	dropped atomic.Int64

	mu     sync.Mutex
	logged map[string]struct{} // client ids whose drops were logged since they went offline
}

func newOfflineLimit(max int, log *slog.Logger) *offlineLimit {
	return &offlineLimit{max: max, log: log, logged: map[string]struct{}{}}
}

// admit reports whether a message may be queued for cl.
func (o *offlineLimit) admit(cl *mqtt.Client) bool {
	if o == nil || !cl.Closed() || cl.State.Inflight.Len() < o.max {
		return true
	}
	o.dropped.Add(1)
	o.mu.Lock()
	_, seen := o.logged[cl.ID]
	o.logged[cl.ID] = struct{}{}
	o.mu.Unlock()
	if !seen {
		o.log.Warn("offline session queue full: newer messages for it are dropped until it reconnects",
			"client_id", cl.ID, "user", string(cl.Properties.Username), "queued", o.max,
			"metric", `mqflux_mqtt_messages_dropped_total{reason="offline_queue_full"}`)
	}
	return false
}

// changed starts a new offline period for a client id: it connected, or
// its connection ended.
func (o *offlineLimit) changed(id string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	delete(o.logged, id)
	o.mu.Unlock()
}
