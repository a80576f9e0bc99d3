package server

import (
	"context"
	"net/http"

	"github.com/mqflux/mqflux/passwd"
)

// tarpitListener is the listener label of the HTTP logins' holds in the
// tarpit's counts (mqflux_tarpit_held_total{listener="http"}).
const tarpitListener = "http"

// httpTarpit holds the HTTP logins refused for their address's backoff
// (the API's basic auth, the console's login form, the legacy API's keys)
// in the broker's tarpit, as the broker holds MQTT connections: a guesser
// told 429 at once retried at once, and each retry cost an accept, a
// request and an answer. The holds share the MQTT tarpit's bounds
// (broker.tarpit: per address and in all), since they spend the same
// descriptors and goroutines, and end when the HTTP server starts
// shutting down, so that no hold keeps it up.
type httpTarpit struct {
	tp       passwd.Tarpit
	stopping context.Context
}

func newHTTPTarpit(tp passwd.Tarpit, srv *http.Server) *httpTarpit {
	stopping, stop := context.WithCancel(context.Background())
	srv.RegisterOnShutdown(stop)
	return &httpTarpit{tp: tp, stopping: stopping}
}

// Hold holds a request until its hold ends, its client goes, or the HTTP
// server shuts down.
func (h *httpTarpit) Hold(ctx context.Context, remote, listener string) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.stopping, cancel)()
	return h.tp.Hold(ctx, remote, listener)
}
