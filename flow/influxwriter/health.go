package influxwriter

import (
	"context"
)

// hint tells the operator what to look at for each kind of failure.
func hint(reason string) string {
	switch reason {
	case "unauthorized":
		return `influx.token: "user:password" of a user with WRITE on the database (InfluxDB 1.x) or an API token with write access to the bucket (InfluxDB 2) or database (InfluxDB 3)`
	case "not_found":
		return `influx.bucket, influx.org and influx.api: for InfluxDB 1.x "database/retention-policy" of an existing database (CREATE DATABASE); for InfluxDB 2 an existing bucket in that org; and an api the server speaks`
	case "network", "timeout":
		return "influx.url: is InfluxDB running and reachable from here?"
	case "server_error":
		return "the InfluxDB server's own log"
	default:
		return "influx.url points at an InfluxDB write API"
	}
}

// Probe asks InfluxDB whether it answers at all (its /ping), so that a
// server started while InfluxDB is away says so at once — in the log and in
// Up — instead of at the first write. A success only means reachable: the
// first write still proves the token and the bucket.
func (w *Writer) Probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	if err := w.sender.Ping(ctx); err != nil {
		w.health.Failed("network", err.Error())
		return
	}
	w.health.Reached()
}
