package server

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxConnections is http.max_connections' default: far more than a
// console, a few scrapers and the legacy loggers need.
const DefaultMaxConnections = 1000

// HTTP's share of the process's descriptors. Every HTTP connection and
// every MQTT connection takes one descriptor from the same RLIMIT_NOFILE;
// without a bound of its own, idle keep-alive connections to the HTTP port
// (233 of them under `ulimit -n 256`) left the MQTT listeners nothing to
// accept with, and every device stayed out. HTTP (the console, scrapes, the
// legacy API) takes at most a quarter of the limit, after the descriptors
// the process keeps for itself (spool segments, the session store, the
// outputs' connections, the listeners), so that MQTT keeps at least three
// quarters of what is left.
const (
	httpNofileShare    = 4  // HTTP takes at most 1/httpNofileShare of the descriptors
	processDescriptors = 64 // kept back for the process's own files and sockets
	minHTTPConnections = 8  // never less than this, so /healthz is reachable
)

// httpConnCap is how many HTTP connections may be open at once: the
// configured http.max_connections, lowered to HTTP's share of nofile (the
// RLIMIT_NOFILE soft limit; 0 when it is unknown or unlimited).
func httpConnCap(configured int, nofile uint64) int {
	if nofile == 0 || nofile > 1<<40 { // unknown, or unlimited
		return configured
	}
	share := (int64(nofile) - processDescriptors) / httpNofileShare
	return int(min(int64(configured), max(minHTTPConnections, share)))
}

// nofileLimit is the process's RLIMIT_NOFILE soft limit, 0 when unknown.
func nofileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// connLimit is a listener that holds at most max connections open at once.
// A connection past the bound is closed as soon as it is accepted, and
// counted: the client learns at once that it was refused, and the
// descriptor is free again. golang.org/x/net/netutil's LimitListener would
// instead stop accepting until a connection closes, which leaves new
// clients waiting in the kernel's backlog behind idle keep-alive
// connections for as long as those last, and reports nothing.
type connLimit struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Int64

	mu          sync.Mutex
	lastRefused time.Time
}

func newConnLimit(ln net.Listener, max int) *connLimit {
	return &connLimit{Listener: ln, max: int64(max)}
}

// collectors are the bound's metrics; l is read at each scrape, so they
// can be registered before the listener exists.
func connLimitCollectors(l *atomic.Pointer[connLimit]) []prometheus.Collector {
	read := func(f func(*connLimit) int64) func() float64 {
		return func() float64 {
			if c := l.Load(); c != nil {
				return float64(f(c))
			}
			return 0
		}
	}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "mqflux_http_connections_refused_total",
			Help: "HTTP connections closed at accept because http.max_connections (or HTTP's share of the descriptor limit) were open.",
		}, read(func(c *connLimit) int64 { return c.refused.Load() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mqflux_http_connections",
			Help: "HTTP connections open now.",
		}, read(func(c *connLimit) int64 { return c.open.Load() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mqflux_http_connections_max",
			Help: "HTTP connections allowed at once: http.max_connections, or HTTP's share of the descriptor limit if lower.",
		}, read(func(c *connLimit) int64 { return c.max })),
	}
}

// Accept returns the next connection within the bound; those beyond it are
// closed and counted, and Accept goes on to the next. Accept errors (no free
// descriptor) go to net/http's server, which retries them with backoff.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, release: l.release}, nil
		}
		l.open.Add(-1)
		// Counted before the close, so whoever sees the close sees the count.
		l.refused.Add(1)
		l.mu.Lock()
		l.lastRefused = time.Now()
		l.mu.Unlock()
		_ = c.Close()
	}
}

func (l *connLimit) release() { l.open.Add(-1) }

// HTTPHealth is the HTTP server's connection state in /healthz.
type HTTPHealth struct {
	Connections    int64 `json:"connections"`
	MaxConnections int64 `json:"max_connections"`
	// Refusing is true while every connection the bound allows is open:
	// new HTTP clients are closed at accept.
	Refusing    bool   `json:"refusing"`
	Refused     int64  `json:"refused"`
	LastRefused string `json:"last_refused,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

func (l *connLimit) health() HTTPHealth {
	h := HTTPHealth{Connections: l.open.Load(), MaxConnections: l.max, Refused: l.refused.Load()}
	l.mu.Lock()
	last := l.lastRefused
	l.mu.Unlock()
	if !last.IsZero() {
		h.LastRefused = last.UTC().Format(time.RFC3339)
	}
	if h.Connections >= h.MaxConnections {
		h.Refusing = true
		h.Reason = fmt.Sprintf("%d of %d HTTP connections open (http.max_connections, or a quarter of the descriptor limit): new HTTP connections are refused", h.Connections, h.MaxConnections)
	}
	return h
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
