package broker

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqflux/mqflux/flow/ingest"
)

// ingestHook hands every reading to the spool before mochi writes the
// PUBACK (mochi calls OnPublish first, then acknowledges). Its answer
// decides the acknowledgement:
//   - spooled, or rejected for good (dead-lettered): the publish proceeds,
//     PUBACK and delivery to subscribers;
//   - spool full: MQTT 5 gets PUBACK reason 0x97 (quota exceeded), 3.1.1
//     gets no PUBACK at all and must resend;
//   - spool write failed: no PUBACK either, the publisher resends.
type ingestHook struct {
	mqtt.HookBase
	sink    ingest.Sink
	wants   func(topic string) bool
	log     *slog.Logger
	refused *tally // {reason}: Stats.PublishRefused

	// gate is held for reading around each spool append and for writing
	// by drain, so that once drain returns no append is under way: the
	// pipeline's drain then sees every acknowledged reading in the spool.
	gate     sync.RWMutex
	draining bool
}

// drain stops acknowledging readings and waits for appends under way.
func (h *ingestHook) drain() {
	h.gate.Lock()
	h.draining = true
	h.gate.Unlock()
}

func (h *ingestHook) ID() string { return "mqflux-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish || b == mqtt.OnWillSent }

// OnWillSent puts a Last Will into the spool as the PUBLISH it stands for:
// mochi hands a will straight to the subscribers, past OnPublish, so a
// device's own "offline" never became a device_status point. The will
// passed its user's publish ACL at CONNECT. Nobody waits for an
// acknowledgement of a will and nobody resends it, so one the spool cannot
// take is logged and lost; while draining (a shutdown closes every
// connection, and sends every will) it is not recorded at all: the device
// is not the one going offline.
func (h *ingestHook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if h.sink == nil || !h.wants(pk.TopicName) {
		return
	}
	h.gate.RLock()
	defer h.gate.RUnlock()
	if h.draining {
		h.log.Debug("last will not recorded: shutting down", "client_id", cl.ID, "topic", pk.TopicName)
		return
	}
	if err := h.sink.Ingest(pk.TopicName, pk.Payload, time.Now()); err != nil && !ingest.IsReject(err) {
		h.refused.add(1, "will_not_stored")
		h.log.Warn("last will not recorded: spool refused it", "client_id", cl.ID, "topic", pk.TopicName, "err", err)
	}
}

func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.sink == nil || !h.wants(pk.TopicName) {
		// The inline client is the HTTP shim: it spooled the reading
		// itself and publishes only so that subscribers see it.
		return pk, nil
	}
	err := h.ingest(cl, pk.TopicName, pk.Payload, time.Now())
	switch {
	case err == nil, ingest.IsReject(err):
		return pk, nil
	case errors.Is(err, errDraining):
		h.refused.add(1, "draining")
		return pk, h.pushBack(cl, pk.FixedHeader.Qos)
	case errors.Is(err, ingest.ErrFull):
		h.refused.add(1, "spool_full")
		return pk, h.pushBack(cl, pk.FixedHeader.Qos)
	default:
		h.refused.add(1, "spool_error")
		h.log.Error("reading not acknowledged: spool write failed", "client_id", cl.ID, "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
}

// ingest hands a reading to the sink. On a coalescing connection it joins
// the batch of the read being processed, appended to the spool with one
// write just before the held PUBACKs go out (coalescingConn.takeLocked):
// a PUBACK still leaves only after its reading is in the spool. Adding to
// a batch appends nothing, so it runs outside the drain gate: commit takes
// the gate while holding the connection's mutex, and a goroutine holding
// the gate must never wait for that mutex (a pending drain would block
// the commit's read lock, and the drain waits for that goroutine).
// It takes the topic and payload rather than the packet: a packet copy in
// this frame, under every reading, grows each device's read goroutine stack.
func (h *ingestHook) ingest(cl *mqtt.Client, topic string, payload []byte, now time.Time) error {
	if bs, ok := h.sink.(ingest.BatchSink); ok {
		if c, ok := cl.Net.Conn.(*coalescingConn); ok {
			if h.isDraining() {
				return errDraining
			}
			if batched, err := c.addToBatch(bs, h.commit, topic, payload, now); batched {
				return err
			}
		}
	}
	h.gate.RLock()
	defer h.gate.RUnlock()
	if h.draining {
		return errDraining
	}
	return h.sink.Ingest(topic, payload, now)
}

func (h *ingestHook) isDraining() bool {
	h.gate.RLock()
	defer h.gate.RUnlock()
	return h.draining
}

// errDraining refuses a reading that arrived after drain.
var errDraining = errors.New("readings not acknowledged: shutting down")

// commit appends a connection's batch under the drain gate (a batch that
// arrives after drain is refused whole). On an error the connection sends
// none of the PUBACKs it holds and is closed: the publisher resends what
// was not acknowledged.
func (h *ingestHook) commit(b ingest.Batch) error {
	h.gate.RLock()
	defer h.gate.RUnlock()
	n := int64(b.Len())
	if h.draining {
		h.refused.add(n, "draining")
		return errDraining
	}
	err := b.Commit()
	switch {
	case err == nil:
	case errors.Is(err, ingest.ErrFull):
		h.refused.add(n, "spool_full")
	default:
		h.refused.add(n, "spool_error")
		h.log.Error("readings not acknowledged: spool write failed", "readings", b.Len(), "err", err)
	}
	return err
}

// pushBack refuses a publish without losing it: a QoS 1 publisher keeps
// it and resends. (QoS 0 promises nothing; the refusal is still counted.)
//
// An MQTT 3.1.1 client resends an unacknowledged PUBLISH only after it
// reconnects (MQTT-4.4.0-1), so withholding the PUBACK alone would leave
// the reading in flight for as long as the connection stays healthy —
// for ever, if later publishes keep getting PUBACKs. The connection is
// closed as well, which makes every 3.1.1 client resend what has no PUBACK.
//
// It takes the QoS, not the packet: a packet argument (800 bytes) would be
// part of OnPublish's frame, which is on the stack under every reading.
func (h *ingestHook) pushBack(cl *mqtt.Client, qos byte) error {
	if qos == 0 {
		return packets.ErrRejectPacket
	}
	if cl.Properties.ProtocolVersion == 5 {
		return packets.ErrQuotaExceeded
	}
	cl.Stop(errPushedBack)
	return packets.ErrRejectPacket
}

// errPushedBack is why a 3.1.1 publisher's connection was closed.
var errPushedBack = errors.New("publish not acknowledged (spool full or draining): closing the connection so the client resends")
