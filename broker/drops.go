package broker

import (
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// dropLog logs the deliveries mochi drops for a connected client that
// does not take them (mqtt.Options.DropReport): one warning when the
// client starts losing them, one line with the count when it has caught
// up again or disconnected. The count of every drop is in
// mqflux_mqtt_messages_dropped_total; a client that stopped reading must
// not also fill the log, one line per reading.
type dropLog struct {
	log       *slog.Logger
	maxQueued int
}

func newDropLog(log *slog.Logger, maxQueued int) *dropLog {
	return &dropLog{log: log, maxQueued: maxQueued}
}

func (d *dropLog) report(cl *mqtt.Client, dropped int64, ended bool) {
	attrs := []any{"client_id", cl.ID, "user", string(cl.Properties.Username), "remote", cl.Net.Remote}
	if !ended {
		d.log.Warn("client is not taking its deliveries: further ones are dropped until it catches up",
			append(attrs, "max_queued", d.maxQueued, "metric", "mqflux_mqtt_messages_dropped_total")...)
		return
	}
	msg := "client takes its deliveries again"
	if cl.Closed() {
		msg = "client that was not taking its deliveries disconnected"
	}
	d.log.Info(msg, append(attrs, "dropped", dropped)...)
}
