package server

import (
	"log/slog"
	"time"

	"github.com/mqflux/mqflux/bridge/ingest"
	"github.com/mqflux/mqflux/broker"
)

// liveSink is how the HTTP shim feeds the pipeline: spool first (the 2xx
// waits for it), then publish through the broker like a device would, so
// that mosquitto_sub sees the shim's readings too. The broker's ingest hook
// skips the server's own publishes, so nothing is spooled twice.
type liveSink struct {
	spool  ingest.Sink
	broker *broker.Broker
	log    *slog.Logger
}

func (l liveSink) Ingest(topic string, payload []byte, received time.Time) error {
	if err := l.spool.Ingest(topic, payload, received); err != nil {
		return err
	}
	// The broker keeps the slice for subscribers' queues; the shim may
	// reuse its buffer once Ingest returns.
	msg := append([]byte(nil), payload...)
	if err := l.broker.Publish(topic, msg, false, 1); err != nil {
		// The reading is stored; only the live view missed it.
		l.log.Debug("live publish of an HTTP reading failed", "topic", topic, "err", err)
	}
	return nil
}
