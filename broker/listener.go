package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tcpListener is mochi's TCP listener with one difference: every accepted
// connection is a coalescingConn. mochi writes each PUBACK with its own
// write(2) from the goroutine that reads the client; under load those
// syscalls were a third of the broker's CPU (BENCHMARKS.md, "Profile of the
// hot path"). Coalesced, one write carries the answers to everything one
// read(2) brought in.
type tcpListener struct {
	id, address string
	tlsConfig   *tls.Config
	log         *slog.Logger

	mu     sync.Mutex
	listen net.Listener
	end    atomic.Bool
}

func newTCPListener(id, address string, tc *tls.Config) *tcpListener {
	return &tcpListener{id: id, address: address, tlsConfig: tc}
}

func (l *tcpListener) ID() string { return l.id }

func (l *tcpListener) Protocol() string { return "tcp" }

func (l *tcpListener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listen != nil {
		return l.listen.Addr().String()
	}
	return l.address
}

func (l *tcpListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.address)
	if err != nil {
		return fmt.Errorf("listen %s: %w", l.address, err)
	}
	l.mu.Lock()
	l.listen = ln
	l.mu.Unlock()
	return nil
}

func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	for !l.end.Load() {
		conn, err := l.listen.Accept()
		if err != nil {
			return
		}
		if l.end.Load() {
			conn.Close()
			return
		}
		// TLS goes over the coalescing connection, so a burst of
		// answers also becomes one TLS record and one syscall.
		var c net.Conn = &coalescingConn{Conn: conn}
		if l.tlsConfig != nil {
			c = &coalescingConn{Conn: tls.Server(conn, l.tlsConfig)}
		}
		go func() {
			if err := establish(l.id, c); err != nil {
				l.log.Warn("mqtt connection ended", "listener", l.id, "err", err)
			}
		}()
	}
}

func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	if !l.end.Swap(true) {
		closeClients(l.id)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listen != nil {
		_ = l.listen.Close()
	}
}

// coalescingConn holds back what is written while its reader is busy with
// data it has read, and sends it in one write just before the reader asks
// the network for more. The reader is mochi's per-client goroutine: it
// reads a buffer full of PUBLISH packets, answers each (a PUBACK, written
// only after the reading is in the spool, so the order of spool write and
// PUBACK is unchanged), then reads again.
//
// A write made while the reader waits for the network (a delivery to a
// subscriber from another client's goroutine, a keepalive answer) goes out
// at once, so nothing is delayed by more than the processing of one read.
type coalescingConn struct {
	net.Conn

	mu   sync.Mutex
	busy bool // the reader is processing what it read; writes are held
	held []byte
	err  error // a failed write; later writes and reads report it
}

// maxHeld bounds what a connection holds back before writing anyway.
const maxHeld = 32 << 10

func (c *coalescingConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.busy = false
	err := c.flushLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.busy = true
		c.mu.Unlock()
	}
	return n, err
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.busy {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		n, err := c.Conn.Write(p)
		if err != nil {
			c.err = err
		}
		return n, err
	}
	c.held = append(c.held, p...)
	if len(c.held) >= maxHeld {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *coalescingConn) flushLocked() error {
	if c.err != nil {
		return c.err
	}
	if len(c.held) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.held)
	if cap(c.held) > 4<<10 {
		c.held = nil // an idle connection keeps no large buffer
	} else {
		c.held = c.held[:0]
	}
	if err != nil {
		c.err = err
	}
	return err
}

// Close sends what is held (a last PUBACK, a DISCONNECT) before closing,
// unless a write is in progress: then closing is what unblocks it.
func (c *coalescingConn) Close() error {
	if c.mu.TryLock() {
		_ = c.flushLocked()
		c.mu.Unlock()
	}
	return c.Conn.Close()
}
