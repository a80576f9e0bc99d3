package broker

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/internal/backoff"
)

// nextBackoff is the wait after a failed accept that followed a wait of d
// (0: none): net/http's Server's values, 5 ms doubling up to a second. The
// usual cause, no free descriptor, lasts until connections close; retrying
// at once would only spin.
func nextBackoff(d time.Duration) time.Duration {
	return backoff.Policy{Min: 5 * time.Millisecond, Max: time.Second}.Next(d)
}

// ListenerHealth is the accept state of one MQTT listener, for /healthz.
type ListenerHealth struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Accepting is false from a failed accept until the next one succeeds:
	// clients knock and are not let in.
	Accepting    bool   `json:"accepting"`
	AcceptErrors int64  `json:"accept_errors"`
	LastError    string `json:"last_error,omitempty"`
}

// acceptState is what a listener's accept loop reports.
type acceptState struct {
	errors prometheus.Counter

	mu        sync.Mutex
	failing   bool
	count     int64
	lastError string
}

func newAcceptState(errors prometheus.Counter) *acceptState {
	return &acceptState{errors: errors}
}

func (s *acceptState) failed(err error) {
	s.errors.Inc()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = true
	s.count++
	s.lastError = fmt.Sprintf("%s: %v", time.Now().UTC().Format(time.RFC3339), err)
}

func (s *acceptState) accepted() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = false
}

func (s *acceptState) health(id, address string) ListenerHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ListenerHealth{ID: id, Address: address, Accepting: !s.failing, AcceptErrors: s.count, LastError: s.lastError}
}

// withConnectDeadline gives a new connection until d to send its CONNECT:
// until then it holds a descriptor and a goroutine and proves nothing, and
// enough idle sockets would take every descriptor there is. mochi sets its
// keepalive deadline once it has read the CONNECT, replacing this one.
func withConnectDeadline(establish listeners.EstablishFn, d time.Duration) listeners.EstablishFn {
	if d <= 0 {
		return establish
	}
	return func(id string, c net.Conn) error {
		if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
			_ = c.Close()
			return fmt.Errorf("connect deadline: %w", err)
		}
		return establish(id, c)
	}
}

// wsListener is mochi's WebSocket listener with the connect deadline. Its
// accept loop is net/http's, which already retries accept errors.
type wsListener struct {
	*listeners.Websocket
	connectTimeout time.Duration
	// writeTimeout: each connection is a coalescingConn, as on TCP, so
	// no runner writes to a WebSocket client that does not read.
	writeTimeout time.Duration
	log          *slog.Logger
	tarpit       *tarpit // nil: none
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	deadlined := withConnectDeadline(establish, l.connectTimeout)
	tarpitted := l.tarpit.wrap(deadlined)
	l.Websocket.Serve(func(id string, c net.Conn) error {
		limitUnsent(c)
		return tarpitted(id, newCoalescingConn(c, l.writeTimeout, l.log))
	})
}
