package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	pebbledb "github.com/cockroachdb/pebble"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// queueWriter persists the messages queued for persistent sessions: the
// hook records each change in memory, and a goroutine of its own writes
// what has gathered as one synced batch, then the next. Nothing on the path
// of an incoming publish waits for the disk; a crash loses the changes of
// the batch being written and those gathered since — a subscriber's queue,
// never a device's reading, which is in the spool before its PUBACK.
//
// Records have the pebble hook's keys and encoding, so the hook reads them
// back at start. Sent holds the order in which messages were queued, which
// the hook's key order (client id, then packet id as text) does not keep.
type queueWriter struct {
	db  *pebbledb.DB
	log *slog.Logger
	// guard runs each write: it skips it while the store is degraded and
	// turns a pebble failure into an error (see storefault.go).
	guard func(func() error) error

	// writing orders the batches: one flush at a time, so that a later
	// change of a record never lands before an earlier one.
	writing sync.Mutex

	mu      sync.Mutex
	pending map[queueID][]byte // the encoded record; nil deletes it
	last    int64              // the last Sent handed out
	closed  bool

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
}

// queueID names a message queued for a session.
type queueID struct {
	client string
	id     uint16
}

// key is the pebble hook's key of the message's record.
func (q queueID) key() string {
	return string(q.appendKey(make([]byte, 0, q.keyLen())))
}

// keyLen is the most key takes: the prefix, "_", the client id, ":" and
// the packet id's five digits at most.
func (q queueID) keyLen() int { return len(storage.InflightKey) + len(q.client) + 7 }

// appendKey appends the key of the message's record to dst.
func (q queueID) appendKey(dst []byte) []byte {
	dst = append(dst, storage.InflightKey...)
	dst = append(dst, '_')
	dst = append(dst, q.client...)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(q.id), 10)
}

// batchRecordLen is an upper bound of what a change takes in a pebble
// batch: the key and value with their kind and two length varints.
func batchRecordLen(q queueID, rec []byte) int {
	return 1 + 2*binary.MaxVarintLen32 + q.keyLen() + len(rec)
}

// queued is a message to encode.
type queued struct {
	pk  packets.Packet
	seq int64
}

func newQueueWriter(db *pebbledb.DB, log *slog.Logger, guard func(func() error) error) *queueWriter {
	w := &queueWriter{
		db: db, log: log, guard: guard, pending: map[queueID][]byte{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	go w.run()
	return w
}

// put queues a message of cl's session for writing. It is encoded here,
// on the delivery's runner (appendRecord): kept until the write as the
// packet itself it held 800 bytes with pointers per message for the
// collector to scan, where the record is some 130 bytes without.
func (w *queueWriter) put(cl *mqtt.Client, pk packets.Packet) {
	w.mu.Lock()
	// Wall-clock nanoseconds, kept strictly increasing: an order that
	// survives a restart and sorts after the seconds older records hold.
	seq := max(time.Now().UnixNano(), w.last+1)
	w.last = seq
	w.mu.Unlock()
	qid := queueID{cl.ID, pk.PacketID}
	rec, err := encodeRecord(qid, &queued{pk: pk, seq: seq})
	if err != nil {
		w.log.Error("session store: queued message not written", "client_id", cl.ID, "packet_id", pk.PacketID, "error", err)
		return
	}
	w.mu.Lock()
	w.record(qid, rec)
}

// encodeRecord encodes the stored record of a queued message.
func encodeRecord(qid queueID, q *queued) ([]byte, error) {
	if rec, ok := appendRecord(make([]byte, 0, recordLen(qid.client, q)), qid.client, q); ok {
		return rec, nil
	}
	key := qid.key()
	rec, err := message(key, qid.client, q).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	return rec, nil
}

// remove queues the deletion of a message's record.
func (w *queueWriter) remove(client string, id uint16) {
	w.mu.Lock()
	w.record(queueID{client, id}, nil)
}

// record stores a change under w.mu, held by the caller, and releases it.
func (w *queueWriter) record(key queueID, rec []byte) {
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.pending[key] = rec
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a write is already due
	}
}

func (w *queueWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
			w.flush()
		case <-w.quit:
			w.flush()
			return
		}
	}
}

// flush writes every change gathered so far as one synced batch.
func (w *queueWriter) flush() {
	w.writing.Lock()
	defer w.writing.Unlock()
	w.mu.Lock()
	batch := w.pending
	if len(batch) == 0 {
		// Decided under the lock: an empty batch is w.pending itself,
		// which a put may be filling as soon as the lock is released.
		w.mu.Unlock()
		return
	}
	w.pending = make(map[queueID][]byte, len(batch))
	w.mu.Unlock()
	if err := w.guard(func() error { return w.write(batch) }); err != nil && !errors.Is(err, errNotPersisted) {
		w.log.Error("session store: queued messages not written", "messages", len(batch), "error", err)
	}
}

func (w *queueWriter) write(changes map[queueID][]byte) error {
	// Sized up front: grown by doubling from its first kilobyte, a batch
	// of a thousand records was copied and cleared a dozen times.
	size := 12 // the batch's header
	for qid, rec := range changes {
		size += batchRecordLen(qid, rec)
	}
	b := w.db.NewBatchWithSize(size)
	defer b.Close()
	var key []byte
	for qid, rec := range changes {
		key = qid.appendKey(key[:0])
		if rec == nil {
			if err := b.Delete(key, nil); err != nil {
				return fmt.Errorf("delete %s: %w", key, err)
			}
			continue
		}
		if err := b.Set(key, rec, nil); err != nil {
			return fmt.Errorf("set %s: %w", key, err)
		}
	}
	if err := b.Commit(pebbledb.Sync); err != nil {
		return fmt.Errorf("commit %d changes: %w", len(changes), err)
	}
	return nil
}

// message is the pebble hook's record of an inflight message.
func message(key, client string, q *queued) *storage.Message {
	pk := q.pk
	props := pk.Properties.Copy(false)
	return &storage.Message{
		ID:          key,
		T:           storage.InflightKey,
		Client:      client,
		Origin:      pk.Origin,
		PacketID:    pk.PacketID,
		FixedHeader: pk.FixedHeader,
		TopicName:   pk.TopicName,
		Payload:     pk.Payload,
		Sent:        q.seq,
		Created:     pk.Created,
		Properties: storage.MessageProperties{
			PayloadFormat:          props.PayloadFormat,
			MessageExpiryInterval:  props.MessageExpiryInterval,
			ContentType:            props.ContentType,
			ResponseTopic:          props.ResponseTopic,
			CorrelationData:        props.CorrelationData,
			SubscriptionIdentifier: props.SubscriptionIdentifier,
			TopicAlias:             props.TopicAlias,
			User:                   props.User,
		},
	}
}

// close writes what is pending and stops the goroutine; later changes are
// ignored (the server is shutting down).
func (w *queueWriter) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.quit)
	<-w.done
}
