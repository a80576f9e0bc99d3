package subscriber

import "sync"

// acker is the part of mqtt.Message the ack order needs.
type acker interface{ Ack() }

// ackOrder releases the acknowledgements of one connection in the order its
// messages arrived (MQTT 3.1.1 section 4.6), however the workers finish
// them. Every message gets the next sequence number on arrival and is later
// settled once: ack (send its PUBACK) or drop (leave it to the broker).
// Whoever settles the oldest unreleased message releases it and every
// settled one after it, up to the first still pending; the others only
// record their outcome and return, so a slow release never holds up a
// worker that could be spooling.
//
// A drop is final for the connection: no later message is acknowledged
// either, since that PUBACK would overtake the one that never comes. Drops
// happen only when the connection is gone or the bridge stops, when the
// broker redelivers every unacknowledged message of the session anyway.
//
// Memory is one slot per message received and not yet released: the
// broker's in-flight window for this client bounds it.
type ackOrder struct {
	mu        sync.Mutex
	slots     []slot // slots[first] is the oldest unreleased message
	first     int
	head      uint64 // its sequence number
	releasing bool   // a goroutine is releasing: one at a time keeps the order
	dropped   string // reason of the first drop released; nothing after it is acked
	batch     []slot // the releaser's buffer, reused

	report func(acked bool, label string) // called for every message once, in order
}

type slot struct {
	msg   acker
	state slotState
	label string // the ack's result, or the drop's reason
}

type slotState uint8

const (
	pending slotState = iota
	toAck
	toDrop
)

// newAckOrder returns an empty order; report, called by the releasing
// goroutine, tells the outcome of every message in sequence: acked with
// its result, or not acked with the reason.
func newAckOrder(report func(acked bool, label string)) *ackOrder {
	return &ackOrder{report: report}
}

// add registers a message in arrival order and returns its sequence number.
func (o *ackOrder) add(m acker) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.slots = append(o.slots, slot{msg: m})
	return o.head + uint64(len(o.slots)-o.first-1)
}

// ack settles seq for acknowledgement with result: its PUBACK goes out
// once every earlier message is settled, unless one of them was dropped.
func (o *ackOrder) ack(seq uint64, result string) { o.settle(seq, toAck, result) }

// drop settles seq without acknowledgement, and every later message too.
func (o *ackOrder) drop(seq uint64, reason string) { o.settle(seq, toDrop, reason) }

// unreleased counts the messages added and not yet released.
func (o *ackOrder) unreleased() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.slots) - o.first
}

func (o *ackOrder) settle(seq uint64, st slotState, label string) {
	o.mu.Lock()
	i := o.first + int(seq-o.head)
	if seq < o.head || i >= len(o.slots) || o.slots[i].state != pending {
		o.mu.Unlock()
		panic("subscriber: message settled twice or never added") // a bug, not a runtime condition
	}
	o.slots[i].state, o.slots[i].label = st, label
	if o.releasing || seq != o.head {
		o.mu.Unlock()
		return
	}
	o.releasing = true
	for {
		batch := o.takeSettled()
		if len(batch) == 0 {
			o.releasing = false
			o.mu.Unlock()
			return
		}
		// Ack blocks until paho has queued the PUBACK: not under the lock,
		// so workers keep settling meanwhile.
		o.mu.Unlock()
		for _, s := range batch {
			if s.state == toAck {
				s.msg.Ack()
			}
			o.report(s.state == toAck, s.label)
		}
		clear(batch)
		o.mu.Lock()
	}
}

// takeSettled moves the settled run at the head into the releaser's batch,
// turning acks after a drop into drops. The caller holds mu.
func (o *ackOrder) takeSettled() []slot {
	o.batch = o.batch[:0]
	for o.first < len(o.slots) && o.slots[o.first].state != pending {
		s := o.slots[o.first]
		o.slots[o.first] = slot{}
		o.first++
		o.head++
		switch {
		case s.state == toDrop && o.dropped == "":
			o.dropped = s.label
		case s.state == toAck && o.dropped != "":
			s.state, s.label = toDrop, o.dropped
		}
		o.batch = append(o.batch, s)
	}
	o.slots, o.first = dropFront(o.slots, o.first)
	return o.batch
}
