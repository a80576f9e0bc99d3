// Package observe passes readings to whatever only watches them — the live
// views (/v1/latest, /v1/stream), the republish of HTTP readings into the
// broker, alerting — off the path that acknowledges them.
//
// Ingest decides: it maps a reading, spools it, and only then answers the
// sender. Observers see the reading afterwards, each on its own goroutine,
// through a bounded queue of its own. Handing a reading over never waits:
// when an observer is behind, the reading is dropped for that observer
// alone, counted in mqflux_observer_dropped_total{observer} and logged once
// per episode. The queue's slots and their buffers are reused, so the hand-
// off allocates nothing on the ingest side; any allocating work is the
// observer's, on its goroutine.
//
// A new watcher (alerting, say) is one more Observer: embed Base, give it a
// Name and an Observe method, and list it where the server builds the
// pipeline.
package observe

import (
	"time"

	"github.com/mqflux/mqflux/flow/point"
)

// Reading is one spooled point as an observer sees it. It and everything
// it refers to are valid only during Observe: copy what must be kept.
type Reading struct {
	point.Point
	Received time.Time // when mqflux received it
	Source   string    // the input: "mqtt", "http"
	Topic    string    // the topic it came in on, or was filed under
}

// Device is the point's device tag.
func (r *Reading) Device() string { return r.Tag("device") }

// Observer watches spooled readings.
type Observer interface {
	// Name labels the observer's metrics and log lines.
	Name() string
	// Wants reports whether the observer watches readings from source. It
	// is asked on the ingest path, before a reading is queued, so it must
	// be quick; readings it does not want take no room in its queue.
	Wants(source string) bool
	// Observe handles one reading, on the observer's own goroutine, one
	// reading at a time, in the order they were spooled. It may take as
	// long as it needs: readings arriving meanwhile queue up to the
	// queue's size and are dropped beyond it.
	Observe(r *Reading)
}

// Base is what an observer embeds to want every reading.
type Base struct{}

// Wants every source.
func (Base) Wants(string) bool { return true }
