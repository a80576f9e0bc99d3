package mqtt

import (
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// mqflux patch: packetRunner decodes and handles each packet of a client on
// a goroutine shared by all clients, while the client's own goroutine waits
// for the network in a small frame and reads the packet's bytes.
//
// Handling a packet is deep: mochi passes packets (about 800 bytes) by
// value through processPacket, processPublish and the hooks, and an
// embedding server's OnPublish hook adds its own work (parsing, storing).
// On the client's goroutine that depth made every client's stack grow to
// 16 or 32 KiB at every packet, and with thousands of clients publishing at
// the same moment the stacks were most of the broker's memory. A handful
// of runner goroutines hold the deep stacks instead; a client's goroutine
// only waits for its next byte and for its packet to be handled.
//
// A runner is started when no idle one takes the packet, up to
// Options.Runners; then the client waits for one. Runners never wait for
// the network (the client's goroutine reads the packet's bytes, a
// Flusher's flush does not write, a delivery to another client only queues
// it for that client's writer, and the state a delivery touches, packet ids
// and inflight messages, is never locked across a write: Client.WritePacket),
// only for locks and the disk, so a slow client cannot hold one. Runners stay for the life of the process: one that ended while a
// client waited to hand it a packet would leave that client waiting.
type packetRunner struct {
	jobs    chan *packetJob
	started atomic.Int32
	max     int32
}

// packetJob is a client's work on a runner: decoding and handling its next
// packet, or its CONNECT. Each client has one for its packets (at most one
// is handled at a time), reused.
type packetJob struct {
	fn   func() error
	err  error
	done chan struct{}
}

func newPacketJob(fn func() error) *packetJob {
	return &packetJob{fn: fn, done: make(chan struct{}, 1)}
}

// DefaultRunners bounds the runners unless Options.Runners says otherwise:
// far more than the cores that run them, so that handlers waiting on a lock
// or the disk leave room for the rest, and far fewer than the clients: when
// thousands of devices publish in the same second, the runners' stacks are
// the only deep ones.
const DefaultRunners = 64

func newPacketRunner(max int) *packetRunner {
	if max <= 0 {
		max = DefaultRunners
	}
	return &packetRunner{jobs: make(chan *packetJob), max: int32(max)}
}

// do runs j on a runner and waits for it.
func (r *packetRunner) do(j *packetJob) error {
	select {
	case r.jobs <- j:
	default:
		if r.started.Load() < r.max && r.started.Add(1) <= r.max {
			go r.run(j)
		} else {
			r.jobs <- j
		}
	}
	<-j.done
	return j.err
}

// run handles j, then every job handed to it.
func (r *packetRunner) run(j *packetJob) {
	for {
		j.err = j.fn()
		j.done <- struct{}{}
		j = <-r.jobs
	}
}

// Flusher is a connection that holds back work until it is read from:
// mqflux's coalescing connection, which stores the readings one network
// read brought in with one spool write before the answers that
// acknowledge them go out. Flush does that work without writing to the
// network (the answers go out at the next read, on the client's own
// goroutine): a runner never waits for a slow client.
type Flusher interface {
	Flush() error
}

// handleAndFlush decodes and handles a packet the client's goroutine read
// (readRaw) and, when nothing more is buffered (the client's next read
// waits for the network), flushes a Flusher connection here on the runner
// rather than from the client's goroutine, inside its next read: what a
// flush does (in mqflux, storing the readings the held answers
// acknowledge) is as deep as handling a packet.
//
// The packets that follow it whole in the buffer are handled here too, one
// hand-over per network read rather than per packet: a client streaming
// publishes brings in dozens per read. A packet only partly buffered is
// left to the client's goroutine, which waits for the rest: a runner never
// waits for the network.
func (cl *Client) handleAndFlush(fh *packets.FixedHeader, body []byte, packetHandler ReadFn) error {
	for {
		pk, err := cl.decodePacket(fh, body)
		if err != nil {
			return err
		}
		if err := packetHandler(cl, pk); err != nil {
			return err
		}
		if cl.Closed() || !cl.packetBuffered() {
			break
		}
		if body, err = cl.readRaw(fh); err != nil {
			return err
		}
	}
	if f, ok := cl.Net.Conn.(Flusher); ok && cl.Net.bconn.Buffered() == 0 {
		return f.Flush()
	}
	return nil
}

// packetBuffered says whether a whole packet waits in the read buffer, so
// that reading it cannot wait for the network.
func (cl *Client) packetBuffered() bool {
	b := cl.Net.bconn
	n := b.Buffered()
	if n < 2 {
		return false
	}
	head, _ := b.Peek(min(n, 5)) // the type byte and at most 4 of remaining length
	remaining, shift := 0, 0
	for i, c := range head[1:] {
		remaining |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			return 1+i+1+remaining <= n
		}
		shift += 7
	}
	return false
}
