package latest

import (
	"sync/atomic"

	"github.com/mqflux/mqflux/flow/observe"
)

// Subscription is one live client: the readings that pass its filter, in a
// bounded buffer. When the client reads too slowly, readings are dropped
// and counted rather than making ingest wait.
type Subscription struct {
	s       *Store
	filter  Filter
	c       chan *Reading
	dropped atomic.Int64
}

// Subscribe starts passing readings that match f to a new subscription
// holding at most buffer readings unread. Done is closed by Close; call
// Unsubscribe when the client leaves.
func (s *Store) Subscribe(f Filter, buffer int) *Subscription {
	sub := &Subscription{s: s, filter: f, c: make(chan *Reading, max(buffer, 1))}
	s.subMu.Lock()
	if !s.closed {
		s.subs[sub] = struct{}{}
	}
	s.subMu.Unlock()
	return sub
}

// C delivers the readings.
func (sub *Subscription) C() <-chan *Reading { return sub.c }

// Dropped returns how many readings were dropped since the last call, and
// resets the count.
func (sub *Subscription) Dropped() int64 { return sub.dropped.Swap(0) }

// Unsubscribe stops the deliveries.
func (sub *Subscription) Unsubscribe() {
	sub.s.subMu.Lock()
	delete(sub.s.subs, sub)
	sub.s.subMu.Unlock()
}

// Done is closed when the store is closed: the server is shutting down and
// live clients should be let go.
func (s *Store) Done() <-chan struct{} { return s.done }

// Close ends every subscription (Done is closed); later subscriptions
// receive nothing.
func (s *Store) Close() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	clear(s.subs)
	close(s.done)
}

func (s *Store) publish(or *observe.Reading) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	dev := or.Device()
	var r *Reading // built once, for the first subscriber that wants it
	for sub := range s.subs {
		if !sub.filter.match(dev, or.Measurement) {
			continue
		}
		if r == nil {
			r = reading(&or.Point, or.Received)
		}
		select {
		case sub.c <- r:
		default:
			sub.dropped.Add(1)
			s.dropped.Inc()
		}
	}
}
