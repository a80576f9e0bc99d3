package mqtt

import (
	"sync/atomic"
	"time"
)

// mqflux patch: packetRunner reads and handles each packet of a client on a
// goroutine shared by all clients, while the client's own goroutine waits
// in a small frame.
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
// A runner is started when no idle one takes the packet, so a packet whose
// handling blocks (a slow network write, a hook that waits) never holds up
// another client's; a runner idle for runnerIdle ends. With maxRunners
// busy, the client's goroutine does the work itself, as it did before:
// when handlers block on a lock, thousands of clients publishing in the
// same moment would otherwise start thousands of runners, each with a deep
// stack.
type packetRunner struct {
	jobs    chan *packetJob
	running atomic.Int32
}

// packetJob is a client's work on a runner: reading and handling its next
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

// runnerIdle is how long a runner waits for another packet before it
// ends; the devices of a fleet that report every few seconds keep a few
// runners alive between rounds.
const runnerIdle = 10 * time.Second

// maxRunners bounds the runners: far more than the cores that run them,
// so that a few blocked handlers leave room for the rest.
const maxRunners = 64

func newPacketRunner() *packetRunner {
	return &packetRunner{jobs: make(chan *packetJob)}
}

// do runs j on a runner and waits for it.
func (r *packetRunner) do(j *packetJob) error {
	select {
	case r.jobs <- j:
	default:
		if r.running.Add(1) > maxRunners {
			r.running.Add(-1)
			return j.fn()
		}
		go r.run(j)
	}
	<-j.done
	return j.err
}

// run handles j, then whatever packets come while it is not idle for
// runnerIdle.
func (r *packetRunner) run(j *packetJob) {
	defer r.running.Add(-1)
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		j.err = j.fn()
		j.done <- struct{}{}
		idle.Reset(runnerIdle)
		select {
		case j = <-r.jobs:
		case <-idle.C:
			return
		}
	}
}
