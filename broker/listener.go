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

	"github.com/mqflux/mqflux/flow/ingest"
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
//   - A connection from an address in login backoff is held, then
//     refused, by the tarpit, never reaching mochi.
//   - A connection whose writes do not finish within writeTimeout is closed
//     (coalescingConn).
//   - The kernel holds at most maxUnsent bytes unsent for a connection
//     (limitUnsent): a client that does not read its answers stops being
//     read after a few thousand of them.
type tcpListener struct {
	id, address    string
	tlsConfig      *tls.Config
	connectTimeout time.Duration
	writeTimeout   time.Duration
	log            *slog.Logger // the broker's: accept failures
	connLog        *slog.Logger // mochi's, quieter: connections that end in an error
	state          *acceptState
	tarpit         *tarpit // nil: none

	mu     sync.Mutex
	listen net.Listener
	end    atomic.Bool
	done   chan struct{} // closed by Close: ends a backoff early
}

func newTCPListener(id, address string, tc *tls.Config, connectTimeout, writeTimeout time.Duration, state *acceptState, log *slog.Logger) *tcpListener {
	return &tcpListener{
		id: id, address: address, tlsConfig: tc, connectTimeout: connectTimeout, writeTimeout: writeTimeout,
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
	establish = l.tarpit.wrap(withConnectDeadline(establish, l.connectTimeout))
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
		limitUnsent(conn)
		// TLS goes over the coalescing connection, so a burst of
		// answers also becomes one TLS record and one syscall.
		var c net.Conn = newCoalescingConn(conn, l.writeTimeout, l.log)
		if l.tlsConfig != nil {
			c = newCoalescingConn(tls.Server(conn, l.tlsConfig), l.writeTimeout, l.log)
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
// subscriber from the client's writer goroutine, a keepalive answer) goes
// out at once, so nothing is delayed by more than the processing of one
// read.
//
// The readings whose PUBACKs are held are held too (batch): they are
// appended to the spool with one write before any held byte is sent, so a
// PUBACK still leaves only after its reading is in the spool, and a read's
// worth of readings costs one syscall instead of one each.
//
// Write never touches the network, so no caller waits for a client that
// does not read: a runner (handlers.go) answering the client, a runner of
// another client taking over its session, the client's writer goroutine.
// While the reader is busy, what is written is held for its next read;
// while it waits for the network, a drain goroutine (one at a time,
// started by the write that finds none) sends what is written. What is
// held is bounded all the same: the answers to one read are a few KiB, and
// the client's writer goroutine, which brings deliveries, waits in
// WaitToWrite while maxHeld bytes are held, so its queue in mochi fills and
// further deliveries are dropped (broker.max_queued). mu guards the state
// and is never held across a network write; wmu orders the network
// writes, each of which must finish within writeTimeout: a client whose
// socket stays unwritable that long is disconnected (the connection is
// closed, its reader fails, its will is sent).
type coalescingConn struct {
	net.Conn
	writeTimeout time.Duration // 0: no deadline
	log          *slog.Logger  // the broker's: a write that timed out

	wmu sync.Mutex // held across a network write, after mu is released

	mu       sync.Mutex
	roomy    *sync.Cond // signalled when what is held is taken, or the connection fails
	busy     bool       // the reader is processing what it read; writes are held
	draining bool       // a drain goroutine is sending what is held
	held     []byte
	err      error // a failed write; later writes and reads report it
	timedOut bool  // err is a write that exceeded writeTimeout

	// batch holds the readings whose PUBACKs are held; commit appends it
	// to the spool before any held byte is sent.
	batch  ingest.Batch
	commit func(ingest.Batch) error
}

func newCoalescingConn(c net.Conn, writeTimeout time.Duration, log *slog.Logger) *coalescingConn {
	cc := &coalescingConn{Conn: c, writeTimeout: writeTimeout, log: log}
	cc.roomy = sync.NewCond(&cc.mu)
	return cc
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
		c.failLocked(fmt.Errorf("spool append before PUBACK: %w", err))
		return c.err
	}
	return nil
}

// closeWriteTimeout bounds the last write of a connection being closed.
const closeWriteTimeout = time.Second

// maxHeld bounds what deliveries add to what a busy connection holds
// (WaitToWrite).
const maxHeld = 32 << 10

func (c *coalescingConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
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

// flush ends the reader's busy spell: it appends the pending batch and
// sends what is held, on the reader's own goroutine, which may wait for
// the network (up to writeTimeout): a client that does not read its
// answers is not read either.
func (c *coalescingConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	c.busy = false
	c.roomy.Broadcast()
	out, err := c.takeLocked(nil)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.send(out)
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

// SetDeadline sets the read deadline only: mochi calls it with the
// keepalive deadline (or none) before each packet it reads, and the write
// deadline of a write in progress is the write timeout's (send).
func (c *coalescingConn) SetDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(t)
}

// WaitToWrite returns once fewer than maxHeld bytes are held, or the
// connection failed: mochi's writer goroutine for the client calls it
// before each delivery (mqtt.WriteWaiter), outside every lock of the
// client.
func (c *coalescingConn) WaitToWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && len(c.held) >= maxHeld {
		c.roomy.Wait()
	}
	return c.err
}

// Write holds p; while the reader waits for the network a drain goroutine
// sends it.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.held = append(c.held, p...)
	if !c.busy && !c.draining {
		c.draining = true
		go c.drain()
	}
	return len(p), nil
}

// drain sends what is held until nothing is, or the reader is busy again
// (its next read sends what it holds then).
func (c *coalescingConn) drain() {
	for {
		c.wmu.Lock()
		c.mu.Lock()
		if c.busy || len(c.held) == 0 || c.err != nil {
			c.draining = false
			c.mu.Unlock()
			c.wmu.Unlock()
			return
		}
		out, err := c.takeLocked(nil)
		c.mu.Unlock()
		if err == nil {
			err = c.send(out)
		}
		c.wmu.Unlock()
		if err != nil {
			c.mu.Lock()
			c.draining = false
			c.mu.Unlock()
			return
		}
	}
}

// takeLocked commits the pending batch and returns what is held followed
// by p, leaving nothing held. The caller holds wmu and mu, and sends the
// result before releasing wmu, so bytes leave in the order written.
func (c *coalescingConn) takeLocked(p []byte) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	if err := c.commitLocked(); err != nil {
		return nil, err
	}
	if len(c.held) == 0 {
		return p, nil
	}
	out := append(c.held, p...)
	c.held = nil // an idle connection keeps no buffer
	c.roomy.Broadcast()
	return out, nil
}

// send writes out to the network within writeTimeout; the caller holds
// wmu. A failed write fails the connection and closes it, so that its
// reader stops and mochi ends the client as for any lost connection.
func (c *coalescingConn) send(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	if c.writeTimeout > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			c.fail(err)
			return err
		}
	}
	if _, err := c.Conn.Write(out); err != nil {
		c.fail(err)
		if c.WriteTimedOut() && c.log != nil {
			c.log.Warn("client disconnected: its connection took nothing for write_timeout",
				"remote", c.RemoteAddr().String(), "write_timeout", c.writeTimeout)
		}
		return err
	}
	return nil
}

// fail records a failed write and closes the connection.
func (c *coalescingConn) fail(err error) {
	c.mu.Lock()
	c.failLocked(err)
	c.mu.Unlock()
	_ = c.Conn.Close()
}

func (c *coalescingConn) failLocked(err error) {
	if c.err == nil {
		c.err = err
		var ne net.Error
		c.timedOut = errors.As(err, &ne) && ne.Timeout()
	}
	c.roomy.Broadcast()
}

// WriteTimedOut says whether the connection failed because a write did
// not finish within the write timeout.
func (c *coalescingConn) WriteTimedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timedOut
}

// Close sends what is held (a last PUBACK, a DISCONNECT) before closing,
// unless a write is in progress: then closing is what unblocks it.
func (c *coalescingConn) Close() error {
	if c.wmu.TryLock() {
		c.mu.Lock()
		out, err := c.takeLocked(nil)
		c.mu.Unlock()
		if err == nil && len(out) > 0 {
			// Last words get a moment, not writeTimeout: a client that
			// does not read them does not get them.
			_ = c.Conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
			_, _ = c.Conn.Write(out)
		}
		c.wmu.Unlock()
	}
	c.mu.Lock()
	c.failLocked(net.ErrClosed)
	c.mu.Unlock()
	return c.Conn.Close()
}
