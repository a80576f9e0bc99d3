package broker

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqflux/mqflux/topic"
)

// offlineLimit bounds the queue of a persistent session whose client is
// gone (broker.max_offline_queue). mochi would queue up to max_inflight
// (65,535) messages per session, keep them in memory, store them, and send
// them all before anything new when the client returns; a reader that
// closed its terminal is better served by a few thousand.
//
// A session whose queue is full is paused: its subscriptions leave mochi's
// topic index, so that a publish no longer looks it up, copies a packet for
// it and asks the ACL, per reading, only to drop the copy — that cost alone
// took a third off the ingest rate with three such sessions. The session
// keeps its subscriptions, and mochi puts them back in the index when the
// client returns (or the server restarts). While paused, every publish its
// filters match is counted as dropped, as it would have been, and the
// first drop of each offline period is logged. The count is exact for
// readings and HTTP readings; a publish racing the one that fills a queue
// may be counted although it was queued, and a Last Will (which mochi
// sends without OnPublished) is not counted.
type offlineLimit struct {
	max     int
	srv     *mqtt.Server
	log     *slog.Logger
	dropped atomic.Int64
	// sessions is a copy of paused that every publish reads without a
	// lock: with a mutex here, each publish of every device took the same
	// lock once a session was paused, and the runners queued on it.
	sessions atomic.Pointer[[]pausedGroup]

	mu     sync.Mutex
	logged map[string]struct{}               // client ids whose drops were logged since they went offline
	paused map[string][]packets.Subscription // by client id: the filters taken out of the index
}

// pausedGroup is one entry of offlineLimit.sessions: paused sessions
// with the same filters, matched once per publish for all of them (three
// `mosquitto_sub -c -t 'devices/#'` left behind are one group). A session
// with a no-local filter is a group of its own: whether a publish counts
// depends on who sent it.
type pausedGroup struct {
	id       string                 // the session's client id, for a no-local group
	subs     []packets.Subscription // the filters that queue something: QoS above 0
	sessions int64
}

func newOfflineLimit(max int, srv *mqtt.Server, log *slog.Logger) *offlineLimit {
	return &offlineLimit{max: max, srv: srv, log: log,
		logged: map[string]struct{}{}, paused: map[string][]packets.Subscription{}}
}

// publishPaused replaces the copy of paused that publishes read; o.mu is
// held. Pauses and reconnects are rare, publishes are not.
func (o *offlineLimit) publishPaused() {
	list := make([]pausedGroup, 0, len(o.paused))
	byFilters := map[string]int{} // filters joined by a byte no filter holds, to the group's index
	for id, subs := range o.paused {
		g := pausedGroup{sessions: 1}
		var filters []string
		noLocal := false
		for _, sub := range subs {
			if sub.Qos == 0 {
				continue // mochi queues nothing at QoS 0 for an offline client
			}
			g.subs = append(g.subs, sub)
			filters = append(filters, sub.Filter)
			noLocal = noLocal || sub.NoLocal
		}
		if len(g.subs) == 0 {
			continue
		}
		if noLocal {
			g.id = id
			list = append(list, g)
			continue
		}
		slices.Sort(filters)
		key := strings.Join(filters, "\x00")
		if i, ok := byFilters[key]; ok {
			list[i].sessions++
			continue
		}
		byFilters[key] = len(list)
		list = append(list, g)
	}
	o.sessions.Store(&list)
}

// admit reports whether a message may be queued for cl; mochi asks before
// it queues each delivery (see authHook.OnACLCheck).
func (o *offlineLimit) admit(cl *mqtt.Client) bool {
	if o == nil || !cl.Closed() || cl.State.Inflight.Len() < o.max {
		return true
	}
	// Counted in published, which mochi calls once the publish has been
	// offered to every subscriber: the session is paused by then.
	o.mu.Lock()
	_, seen := o.logged[cl.ID]
	o.logged[cl.ID] = struct{}{}
	o.pause(cl)
	o.mu.Unlock()
	if !seen {
		o.log.Warn("offline session queue full: newer messages for it are dropped until it reconnects",
			"client_id", cl.ID, "user", string(cl.Properties.Username), "queued", o.max,
			"metric", `mqflux_mqtt_messages_dropped_total{reason="offline_queue_full"}`)
	}
	return false
}

// pause takes cl's subscriptions out of the topic index; o.mu is held.
func (o *offlineLimit) pause(cl *mqtt.Client) {
	if _, ok := o.paused[cl.ID]; ok {
		return
	}
	var subs []packets.Subscription
	for _, sub := range cl.State.Subscriptions.GetAll() {
		if o.srv.Topics.Unsubscribe(sub.Filter, cl.ID) {
			// mochi counts it again when it puts the filter back.
			atomic.AddInt64(&o.srv.Info.Subscriptions, -1)
		}
		subs = append(subs, sub)
	}
	o.paused[cl.ID] = subs
	o.publishPaused()
}

// published counts pk as dropped for each paused session it would have
// been queued for: a filter matches and both QoS are above 0 (mochi queues
// nothing else for an offline client).
func (o *offlineLimit) published(pk packets.Packet) {
	if o == nil || pk.FixedHeader.Qos == 0 {
		return
	}
	list := o.sessions.Load()
	if list == nil {
		return
	}
	var n int64
	for _, g := range *list {
		for _, sub := range g.subs {
			if !(sub.NoLocal && pk.Origin == g.id) && topic.MatchFilter(sub.Filter, pk.TopicName) {
				n += g.sessions
				break // mochi delivers once per session, whatever overlaps
			}
		}
	}
	if n > 0 {
		o.dropped.Add(n)
	}
}

// disconnected starts a new offline period for a client id.
func (o *offlineLimit) disconnected(id string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	delete(o.logged, id)
	o.mu.Unlock()
}

// ended forgets a session that reconnected (mochi has put its filters back
// in the index) or expired.
func (o *offlineLimit) ended(id string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	delete(o.logged, id)
	if _, ok := o.paused[id]; ok {
		delete(o.paused, id)
		o.publishPaused()
	}
	o.mu.Unlock()
}
