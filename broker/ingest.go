package broker

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/bridge/ingest"
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
	refused *prometheus.CounterVec // {reason}

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
		h.refused.WithLabelValues("will_not_stored").Inc()
		h.log.Warn("last will not recorded: spool refused it", "client_id", cl.ID, "topic", pk.TopicName, "err", err)
	}
}

func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.sink == nil || !h.wants(pk.TopicName) {
		// The inline client is the HTTP shim: it spooled the reading
		// itself and publishes only so that subscribers see it.
		return pk, nil
	}
	h.gate.RLock()
	if h.draining {
		h.gate.RUnlock()
		h.refused.WithLabelValues("draining").Inc()
		return pk, h.pushBack(cl, pk.FixedHeader.Qos)
	}
	err := h.sink.Ingest(pk.TopicName, pk.Payload, time.Now())
	h.gate.RUnlock()
	switch {
	case err == nil, ingest.IsReject(err):
		return pk, nil
	case errors.Is(err, ingest.ErrFull):
		h.refused.WithLabelValues("spool_full").Inc()
		return pk, h.pushBack(cl, pk.FixedHeader.Qos)
	default:
		h.refused.WithLabelValues("spool_error").Inc()
		h.log.Error("reading not acknowledged: spool write failed", "client_id", cl.ID, "topic", pk.TopicName, "err", err)
		return pk, packets.ErrRejectPacket
	}
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
