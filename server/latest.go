package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mqflux/mqflux/flow/latest"
)

// streamBuffer is how many readings a /v1/stream client may fall behind
// before readings are dropped for it.
const streamBuffer = 1024

// streamHeartbeat is how often an idle /v1/stream sends a comment, so that
// proxies keep the connection and clients notice a dead one.
const streamHeartbeat = 15 * time.Second

// streamWriteTimeout is how long one write to a /v1/stream client may take.
const streamWriteTimeout = 30 * time.Second

// DefaultMaxStreamClients is how many /v1/stream clients may be connected
// at once unless configured otherwise. Each costs a goroutine, a buffer of
// streamBuffer readings and its share of every reading's fan-out; without a
// bound, 5,000 clients took 470 MB and slowed ingest fourfold.
const DefaultMaxStreamClients = 100

// streamRetryAfter is the Retry-After (seconds) of a stream refused because
// http.max_stream_clients are connected.
const streamRetryAfter = "30"

func filterOf(r *http.Request) latest.Filter {
	q := r.URL.Query()
	return latest.Filter{Device: q.Get("device"), Measurement: q.Get("measurement")}
}

// getLatest answers GET /v1/latest: the newest reading of every device and
// measurement, filtered by ?device= and ?measurement=.
func (s *Server) getLatest(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Readings []*latest.Reading `json:"readings"`
	}{s.latest.Latest(filterOf(r))})
}

// getStream answers GET /v1/stream: Server-Sent Events of readings as the
// spool accepts them (event "reading"), with the same filters as
// /v1/latest, a comment every 15 s, and an event "dropped" carrying how
// many readings a client that reads too slowly missed. It ends when the
// client leaves or the server shuts down. Beyond http.max_stream_clients
// clients it answers 503 with a Retry-After.
func (s *Server) getStream(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		w.Header().Set("Retry-After", streamRetryAfter)
		s.gate.refuse(w, r, "/v1/stream", &refusal{status: http.StatusServiceUnavailable, reason: "max_stream_clients",
			detail: "too many live streams (http.max_stream_clients): try again later"})
		return
	}
	rc := http.NewResponseController(w)
	sub := s.latest.Subscribe(filterOf(r), streamBuffer)
	defer sub.Unsubscribe()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	reportDropped := func() bool {
		if n := sub.Dropped(); n > 0 {
			return send("event: dropped\ndata: {\"dropped\": %d}\n\n", n)
		}
		return true
	}
	if !send(": mqflux live readings\n\n") {
		return
	}
	tick := time.NewTicker(streamHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.latest.Done():
			return
		case <-tick.C:
			if !reportDropped() || !send(": heartbeat\n\n") {
				return
			}
		case rd := <-sub.C():
			if !reportDropped() {
				return
			}
			b, err := json.Marshal(rd)
			if err != nil {
				continue
			}
			if !send("event: reading\ndata: %s\n\n", b) {
				return
			}
		}
	}
}
