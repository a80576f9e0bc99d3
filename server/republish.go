package server

import (
	"log/slog"

	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
)

// republish passes the readings of the legacy HTTP API on through the
// broker, as a device's publish would be, so that MQTT subscribers
// (mosquitto_sub -t 'devices/#') see them too. It is an observer: the
// reading is spooled and answered before it is published, and a broker
// slow to take it costs dropped republishes, never a late 2xx. The
// broker's ingest hook skips the server's own publishes, so nothing is
// spooled twice.
type republish struct {
	// broker is set once the broker is built, which needs the pipeline
	// this observer is part of; no HTTP reading arrives before that.
	broker *broker.Broker
	log    *slog.Logger
}

func (*republish) Name() string { return "republish" }

// Wants readings of the HTTP API only: MQTT readings are in the broker.
func (*republish) Wants(source string) bool { return source == "http" }

// Observe publishes the reading with the JSON payload its device would
// have sent: {"value":21.5,"time":"<RFC 3339>","status":"ok"}.
func (p *republish) Observe(r *observe.Reading) {
	payload := point.AppendJSON(make([]byte, 0, 96), r.Fields, r.At())
	if err := p.broker.Publish(r.Topic, payload, false, 1); err != nil {
		// The reading is stored; only the live view missed it.
		p.log.Debug("live publish of an HTTP reading failed", "topic", r.Topic, "err", err)
	}
}
