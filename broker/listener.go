package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/mqflux/mqflux/bridge/ingest"
)

// tcpListener is mochi's TCP listener with three differences:
//
//   - Every accepted connection is a coalescingConn. mochi writes each
//     PUBACK with its own write(2) from the goroutine that reads the client;
//     under load those syscalls were a third of the broker's CPU
//     (BENCHMARKS.md, "Profile of the hot path"). Coalesced, one write
//     carries the answers to everything one read(2) brought in.
//   - An accept error is retried with backoff, logged and counted, as
//     net/http's Server does. mochi's loop returns on the first one, so one
//     moment without a free descriptor left the port open and unserved for
//     good.
//   - A connection that sends no CONNECT within connectTimeout is closed.
type tcpListener struct {
	id, address    string
	tlsConfig      *tls.Config
	connectTimeout time.Duration
	log            *slog.Logger // the broker's: accept failures
	connLog        *slog.Logger // mochi's, quieter: connections that end in an error
	state          *acceptState

	mu     sync.Mutex
	listen net.Listener
	end    atomic.Bool
	done   chan struct{} // closed by Close: ends a backoff early
}

func newTCPListener(id, address string, tc *tls.Config, connectTimeout time.Duration, state *acceptState, log *slog.Logger) *tcpListener {
	return &tcpListener{
		id: id, address: address, tlsConfig: tc, connectTimeout: connectTimeout,
		state: state, log: log.With("listener", id), done: make(chan struct{}),
	}
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
	l.connLog = log
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
	establish = withConnectDeadline(establish, l.connectTimeout)
	var backoff time.Duration
	for !l.end.Load() {
		conn, err := l.listen.Accept()
		if err != nil {
			if l.end.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = nextBackoff(backoff)
			l.state.failed(err)
			l.log.Error("mqtt accept failed; retrying", "err", err, "retry_in", backoff)
			if !l.sleep(backoff) {
				return
			}
			continue
		}
		backoff = 0
		l.state.accepted()
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
				l.connLog.Warn("mqtt connection ended", "listener", l.id, "err", err)
			}
		}()
	}
}

// sleep waits d, or less if the listener is closed meanwhile; false then.
func (l *tcpListener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	if !l.end.Swap(true) {
		close(l.done)
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
//
// The readings whose PUBACKs are held are held too (batch): they are
// appended to the spool with one write before any held byte is sent, so a
// PUBACK still leaves only after its reading is in the spool, and a read's
// worth of readings costs one syscall instead of one each.
type coalescingConn struct {
	net.Conn

	mu   sync.Mutex
	busy bool // the reader is processing what it read; writes are held
	held []byte
	err  error // a failed write; later writes and reads report it

	// batch holds the readings whose PUBACKs are held; commit appends it
	// to the spool before any held byte is sent.
	batch  ingest.Batch
	commit func(ingest.Batch) error
}

// addToBatch maps a reading into the batch of the read being processed.
// batched is false when the reader is not processing a read (nothing would
// be held): the caller ingests the reading on its own.
func (c *coalescingConn) addToBatch(bs ingest.BatchSink, commit func(ingest.Batch) error, topic string, payload []byte, at time.Time) (batched bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.busy || c.err != nil {
		return false, nil
	}
	if c.batch == nil {
		c.batch, c.commit = bs.Batch(), commit
	}
	return true, c.batch.Add(topic, payload, at)
}

// commitLocked appends the pending batch. On failure the held bytes, which
// acknowledge readings the spool may not hold, are dropped and the
// connection fails.
func (c *coalescingConn) commitLocked() error {
	b := c.batch
	if b == nil {
		return nil
	}
	c.batch = nil
	if err := c.commit(b); err != nil {
		c.held = nil
		c.err = fmt.Errorf("spool append before PUBACK: %w", err)
		return c.err
	}
	return nil
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

// Flush appends the pending batch to the spool, the first half of what
// Read does before it waits for the network; the held PUBACKs still go out
// in that Read. mochi calls it (mqtt.Flusher) on the runner goroutine that
// handled the packets, once nothing more is buffered: the spool append then
// runs on the runner's deep stack, not on the client's own goroutine, whose
// stack stays small; and a runner never writes to a client that may not be
// reading.
func (c *coalescingConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return c.commitLocked()
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
	if err := c.commitLocked(); err != nil {
		return err
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
