package subscriber

import (
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// delivery is one message waiting for the spool.
type delivery struct {
	msg      mqtt.Message
	received time.Time
	acks     *ackOrder // of the connection it arrived on; its ack is useless on any other
	seq      uint64    // its place in acks
}

// queue hands messages from paho's handler to the workers. push never
// blocks, so paho's router (OrderMatters(true)) keeps reading the network,
// PINGRESPs included, while the spool pushes back. Its length is bounded by
// what the broker sends without a PUBACK (mosquitto: max_inflight_messages).
type queue struct {
	mu     sync.Mutex
	items  []delivery
	head   int
	closed bool
	ready  chan struct{} // has a token while items are waiting
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

// push appends d; false once the queue is closed.
func (q *queue) push(d delivery) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.items = append(q.items, d)
	q.signal()
	return true
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop waits for the oldest delivery; false once the queue is closed.
func (q *queue) pop() (delivery, bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return delivery{}, false
		}
		if q.head < len(q.items) {
			d := q.items[q.head]
			q.items[q.head] = delivery{}
			q.head++
			q.items, q.head = dropFront(q.items, q.head)
			if q.head < len(q.items) {
				q.signal() // wake another worker for the rest
			}
			q.mu.Unlock()
			return d, true
		}
		q.mu.Unlock()
		<-q.ready
	}
}

// close stops the queue and returns the deliveries it still held, for
// the caller to settle.
func (q *queue) close() []delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	left := q.items[q.head:]
	q.items, q.head = nil, 0
	close(q.ready)
	return left
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// dropFront lets go of the consumed front s[:first] of a slice used as a
// FIFO: all of it once everything is consumed, else, once the front is
// large and most of the slice, by copying the rest down, so that a backlog
// that never empties does not keep its consumed front alive.
func dropFront[T any](s []T, first int) ([]T, int) {
	switch {
	case first == len(s):
		return s[:0], 0
	case first > 1024 && first > len(s)/2:
		n := copy(s, s[first:])
		clear(s[n:])
		return s[:n], 0
	}
	return s, first
}
