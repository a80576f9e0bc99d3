package broker

import (
	"sync"
	"sync/atomic"
)

// Stats are the broker's numbers now. They are the one record of them: the
// Prometheus metrics (/metrics) and the views (/healthz, /v1/pipeline, the
// console) all read them, so renaming a metric changes no view.
type Stats struct {
	ClientsConnected int64 // MQTT clients connected now
	Subscriptions    int64 // subscriptions held now, offline sessions' included
	MessagesReceived int64 // PUBLISH packets received
	MessagesSent     int64 // PUBLISH packets sent to subscribers
	// Dropped counts messages not queued for a subscriber, by the limit
	// reached: queue_full, inflight_full, offline_queue_full.
	Dropped  map[string]int64
	Inflight int64 // QoS 1/2 messages awaiting a subscriber's acknowledgement
	// Retained and RetainedBytes are the retained messages held and their
	// size (topic and payload); RetainedRefused the retained publishes past
	// a limit, by reason (count, bytes).
	Retained, RetainedBytes int64
	RetainedRefused         map[string]int64
	// PublishRefused counts publishes not acknowledged, so that the
	// publisher resends them, by reason (spool_full, draining, spool_error,
	// will_not_stored).
	PublishRefused map[string]int64
	// Denied counts connections and operations refused by authentication
	// or ACL: by what (connect, publish, subscribe), then reason.
	Denied map[string]map[string]int64
	// TarpitHeld counts the connections of addresses in login backoff
	// held before their refusal; TarpitHolding is how many are held now
	// (tarpit.go).
	TarpitHeld, TarpitHolding int64
	// TarpitHeldBy and TarpitHoldingBy are the same by listener ("tcp",
	// "tls", "ws"), with the HTTP requests held through Broker.Tarpit
	// ("http").
	TarpitHeldBy, TarpitHoldingBy map[string]int64
}

// Stats returns the broker's numbers now.
func (b *Broker) Stats() Stats {
	i := b.srv.Info
	st := Stats{
		ClientsConnected: atomic.LoadInt64(&i.ClientsConnected),
		Subscriptions:    atomic.LoadInt64(&i.Subscriptions),
		MessagesReceived: atomic.LoadInt64(&i.MessagesReceived),
		MessagesSent:     atomic.LoadInt64(&i.MessagesSent),
		Dropped: map[string]int64{
			dropQueueFull:        atomic.LoadInt64(&i.MessagesDropped),
			dropInflightFull:     atomic.LoadInt64(&i.InflightDropped),
			dropOfflineQueueFull: b.offlineDropped.Load(),
		},
		Inflight:        inflight(b.srv),
		Retained:        atomic.LoadInt64(&i.Retained),
		RetainedRefused: b.retained.refused.byFirst(),
		PublishRefused:  b.ingest.refused.byFirst(),
		Denied:          b.denied.nested(),
		TarpitHeld:      b.tarpit.held.Load(),
		TarpitHolding:   int64(b.tarpit.holding()),
	}
	st.TarpitHeldBy, st.TarpitHoldingBy = b.tarpit.byListener()
	b.retained.mu.Lock()
	st.RetainedBytes = b.retained.bytes
	b.retained.mu.Unlock()
	return st
}

// tally counts by one or two labels. Refusals are counted here, off the
// path of an acknowledged reading, so one mutex is enough.
type tally struct {
	mu sync.Mutex
	m  map[[2]string]int64
}

func (t *tally) add(n int64, a string, b ...string) {
	k := [2]string{a}
	if len(b) > 0 {
		k[1] = b[0]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[[2]string]int64{}
	}
	t.m[k] += n
}

func (t *tally) byFirst() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.m))
	for k, n := range t.m {
		out[k[0]] += n
	}
	return out
}

func (t *tally) nested() map[string]map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]map[string]int64{}
	for k, n := range t.m {
		if out[k[0]] == nil {
			out[k[0]] = map[string]int64{}
		}
		out[k[0]][k[1]] += n
	}
	return out
}
