// SPDX-License-Identifier: MIT

package mqtt

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// mqflux patch: a connected client that loses every delivery (its write
// queue full, or its inflight window full for QoS 1 and 2) is paused: its
// subscriptions leave the topic index until it has room again, so that a
// publish no longer gathers it, looks it up and checks its queue, per
// subscriber, only to drop the delivery. A publish walks the short list of
// paused clients instead, matches their filters and counts each drop as
// before (Info.MessagesDropped, Info.InflightDropped, the client's episode
// for Options.DropReport, OnPublishDropped); a delivery that would still
// go through (QoS 0 to a client whose inflight window is full but whose
// queue is not) is made as before.
//
// A client is resumed as soon as it has room again: when its writer wrote
// a packet, when it sent a packet (a PUBACK frees its window), when an
// inflight message expired, and when it disconnects (a persistent session
// is then the offline queue's business, with its filters in the index).
// The client's own subscriptions are untouched; shared subscriptions stay
// in the index (another member of the group may take the message).

// pausedClient is a paused client and its filters taken out of the index.
type pausedClient struct {
	cl   *Client
	subs []packets.Subscription
}

// pausedClients is the list of paused clients, copied on write: a publish
// reads it with one atomic load.
type pausedClients struct {
	mu   sync.Mutex // orders the writers
	list atomic.Pointer[[]pausedClient]
}

func (p *pausedClients) load() []pausedClient {
	if l := p.list.Load(); l != nil {
		return *l
	}
	return nil
}

// resumeRoom is ops.resume: cl may have room again.
func (s *Server) resumeRoom(cl *Client) { s.resumeClient(cl, false) }

// set puts cl in the list with subs, replacing an entry it had.
func (p *pausedClients) set(cl *Client, subs []packets.Subscription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.load()
	l := make([]pausedClient, 0, len(old)+1)
	for _, e := range old {
		if e.cl != cl {
			l = append(l, e)
		}
	}
	l = append(l, pausedClient{cl: cl, subs: subs})
	p.list.Store(&l)
}

// remove takes cl out of the list.
func (p *pausedClients) remove(cl *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.load()
	l := make([]pausedClient, 0, len(old))
	for _, e := range old {
		if e.cl != cl {
			l = append(l, e)
		}
	}
	p.list.Store(&l)
}

// hasRoom says whether a delivery to cl would be queued.
func (s *Server) hasRoom(cl *Client) bool {
	return atomic.LoadInt32(&cl.State.outboundQty) < cl.ops.options.Capabilities.MaximumClientWritesPending &&
		cl.State.Inflight.Len() < s.inflightLimit(cl)
}

// pauseClient pauses cl, which just lost a delivery, unless it has room
// again. Called again for a paused client (found in the index because it
// subscribed meanwhile), it takes the new filters out too.
func (s *Server) pauseClient(cl *Client) {
	cl.State.pauseMu.Lock()
	defer cl.State.pauseMu.Unlock()
	if cl.Closed() || cl.IsTakenOver() {
		return
	}
	// Set before room is checked, and room is made before the flag is
	// checked (maybeResume): either this sees the room, or the one who
	// made it sees the flag and resumes the client after this.
	was := cl.State.paused.Swap(true)
	if !s.hasRoom(cl) {
		var subs []packets.Subscription
		for _, sub := range cl.State.Subscriptions.GetAll() {
			if !IsSharedFilter(sub.Filter) {
				subs = append(subs, sub)
			}
		}
		// In the list before it leaves the index, and back in the index
		// before it leaves the list (resumeClient): a publish reads the
		// list before and after its lookup (publishToSubscribers).
		s.paused.set(cl, subs)
		for _, sub := range subs {
			s.Topics.Unsubscribe(sub.Filter, cl.ID)
		}
		return
	}
	if !was {
		cl.State.paused.Store(false)
		return
	}
	s.resumeLocked(cl, false)
}

// resumeClient resumes cl if it is paused and has room again, or is gone
// (gone: its connection ended).
func (s *Server) resumeClient(cl *Client, gone bool) {
	if !cl.State.paused.Load() {
		return
	}
	cl.State.pauseMu.Lock()
	defer cl.State.pauseMu.Unlock()
	if !cl.State.paused.Load() || !gone && !s.hasRoom(cl) {
		return
	}
	s.resumeLocked(cl, gone)
}

// resumeLocked puts cl's filters back in the index (not for a client whose
// session another connection took over: it has them) and takes cl off the
// list; cl.State.pauseMu is held.
func (s *Server) resumeLocked(cl *Client, gone bool) {
	if !(gone && cl.IsTakenOver()) {
		for _, sub := range cl.State.Subscriptions.GetAll() {
			if !IsSharedFilter(sub.Filter) {
				s.Topics.Subscribe(cl.ID, sub)
			}
		}
	}
	cl.State.paused.Store(false)
	// The episode of drops ends dropsQuiet after this (Client.endDrops).
	cl.State.lastDrop.Store(time.Now().UnixNano())
	// It stays on the list, not paused, a while: a publish whose lookup
	// ran before the filters were back finds it there and delivers as
	// usual (publishToPaused). Taken off at once, a client paused and
	// resumed within one lookup missed that publish.
	time.AfterFunc(resumedGrace, func() {
		cl.State.pauseMu.Lock()
		defer cl.State.pauseMu.Unlock()
		if !cl.State.paused.Load() {
			s.paused.remove(cl)
		}
	})
}

// resumedGrace is how long a resumed client stays on the list: far longer
// than one publish's lookup.
const resumedGrace = time.Second

// maybeResume asks the server to resume cl if it is paused: it may have
// room again. One atomic load when it is not.
func (cl *Client) maybeResume() {
	if cl.State.paused.Load() && cl.ops != nil && cl.ops.resume != nil {
		cl.ops.resume(cl)
	}
}

// publishToPaused offers pk to the paused clients of before and after
// (the list read before and after the lookup) that the lookup did not
// find (seen): a drop counted for each whose filters match, or a delivery
// as before where one would still go through.
func (s *Server) publishToPaused(pk *packets.Packet, before, after *[]pausedClient, seen map[string]packets.Subscription) {
	var queueFull, windowFull int64
	hooked := s.hooks.Provides(OnPublishDropped)
	offer := func(e pausedClient) {
		if _, ok := seen[e.cl.ID]; ok {
			return
		}
		sub, ok := matchPaused(e, pk)
		if !ok {
			return
		}
		if !e.cl.State.paused.Load() {
			// Resumed: its filters were not back in the index when the
			// lookup ran (resumeLocked). Not a client that is gone (its
			// session ended, or another connection took it over): the
			// lookup would not deliver to it either.
			if cur, ok := s.Clients.Get(e.cl.ID); ok && cur == e.cl {
				_, _ = s.publishToClient(e.cl, sub, *pk)
			}
			return
		}
		switch {
		case atomic.LoadInt32(&e.cl.State.outboundQty) >= e.cl.ops.options.Capabilities.MaximumClientWritesPending:
			queueFull++
		case min(pk.FixedHeader.Qos, sub.Qos) > 0:
			windowFull++
		default:
			_, _ = s.publishToClient(e.cl, sub, *pk)
			return
		}
		e.cl.State.drops.Add(1)
		if hooked {
			s.hooks.OnPublishDropped(e.cl, *pk)
		}
	}
	var first []pausedClient
	if before != nil {
		first = *before
	}
	for _, e := range first {
		offer(e)
	}
	if after != nil && after != before {
		for _, e := range *after {
			if !inPaused(first, e.cl) {
				offer(e)
			}
		}
	}
	if queueFull > 0 {
		atomic.AddInt64(&s.Info.MessagesDropped, queueFull)
	}
	if windowFull > 0 {
		atomic.AddInt64(&s.Info.InflightDropped, windowFull)
	}
}

func inPaused(l []pausedClient, cl *Client) bool {
	for _, e := range l {
		if e.cl == cl {
			return true
		}
	}
	return false
}

// matchPaused returns the subscription of e that pk would be delivered
// under (overlapping ones merged, as the index does), if any.
func matchPaused(e pausedClient, pk *packets.Packet) (packets.Subscription, bool) {
	var out packets.Subscription
	found := false
	for _, sub := range e.subs {
		if sub.NoLocal && pk.Origin == e.cl.ID || !matchFilter(sub.Filter, pk.TopicName) {
			continue
		}
		if !found {
			out, found = sub, true
			continue
		}
		out = out.Merge(sub)
	}
	return out, found
}

// matchFilter reports whether topic matches filter as the index matches
// them: '+' one level, '#' the rest (the parent level included, unless
// that level is '+'), and no wildcard first level for a topic starting
// with '$'.
func matchFilter(filter, topic string) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		if filter == "#" {
			return true
		}
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case fmore && tmore:
			filter, topic = frest, trest
		case !fmore && !tmore:
			return true
		case fmore && !tmore:
			// "a/#" matches "a"; the index does not match "+/#" with "a".
			return frest == "#" && fl != "+"
		default:
			return false
		}
	}
}
