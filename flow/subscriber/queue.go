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
			switch {
			case q.head == len(q.items):
				q.items, q.head = q.items[:0], 0
			case q.head > 1024 && q.head > len(q.items)/2:
				// A backlog that never empties must not keep its
				// consumed front alive.
				n := copy(q.items, q.items[q.head:])
				clear(q.items[n:])
				q.items, q.head = q.items[:n], 0
				q.signal()
			default:
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
