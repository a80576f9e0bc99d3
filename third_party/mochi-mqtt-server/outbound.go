// SPDX-License-Identifier: MIT

package mqtt

import (
	"sync"

	"github.com/mochi-mqtt/server/v2/packets"
)

// outboundQueue holds the packets waiting for a client's writer (mqflux
// patch). It replaces a channel of MaximumClientWritesPending pointers
// allocated for every client, and the goroutine that waited on it for the
// life of every connection: most clients of a telemetry broker only
// publish, so neither was ever used, yet both cost memory per connection
// (8 KiB for the channel at 1,024 slots, 8 KiB or more of stack).
// The slice grows only as deliveries are queued, and a writer goroutine
// runs only while there is something to write.
type outboundQueue struct {
	mu      sync.Mutex
	pks     []*packets.Packet
	head    int  // pks[head:] are waiting
	writing bool // a writer goroutine is draining the queue
}

// push queues pk unless max packets are waiting already. start says that
// no writer is running, so the caller must start one.
func (q *outboundQueue) push(pk *packets.Packet, max int) (ok, start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pks)-q.head >= max {
		return false, false
	}
	if len(q.pks) == cap(q.pks) && q.head >= len(q.pks)/2 {
		// Reuse the sent half instead of growing: a writer that keeps
		// up with a steady stream never lets the queue empty.
		n := copy(q.pks, q.pks[q.head:])
		clear(q.pks[n:])
		q.pks, q.head = q.pks[:n], 0
	}
	q.pks = append(q.pks, pk)
	start = !q.writing
	q.writing = true
	return true, start
}

// pop takes the oldest waiting packet. When none is left it returns false
// and the writer that called it must end: the next push starts another.
// Deciding both under one lock is what keeps a push from being left with
// no writer.
func (q *outboundQueue) pop() (*packets.Packet, bool) {
	pk, _, ok := q.next()
	return pk, ok
}

// next is pop that also says whether more packets wait after pk: the
// writer buffers pk then, instead of asking the queue again (Len) under
// a second lock for every packet (mqflux patch).
func (q *outboundQueue) next() (pk *packets.Packet, more, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.pks) {
		// An idle client keeps no backing array: a burst to a slow
		// subscriber may have grown it to thousands of slots.
		q.pks, q.head, q.writing = nil, 0, false
		return nil, false, false
	}
	pk = q.pks[q.head]
	q.pks[q.head] = nil
	q.head++
	return pk, q.head < len(q.pks), true
}

// Len is the number of packets waiting.
func (q *outboundQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pks) - q.head
}
