// SPDX-License-Identifier: MIT

package mqtt

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
	"github.com/stretchr/testify/require"
)

// deepHook's OnPublish needs about 12 KiB of stack, as an embedding
// server's ingest (parsing, storing) does on top of mochi's own frames.
type deepHook struct {
	HookBase
}

func (h *deepHook) ID() string { return "deep" }

func (h *deepHook) Provides(b byte) bool { return b == OnPublish }

func (h *deepHook) OnPublish(cl *Client, pk packets.Packet) (packets.Packet, error) {
	if useStack(12) == 0 {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// useStack puts kib KiB of frames on the stack.
//
//go:noinline
func useStack(kib int) byte {
	var frame [1000]byte
	frame[kib%len(frame)] = byte(kib)
	if kib <= 1 {
		return frame[1] + 1
	}
	return useStack(kib-1) + frame[kib%len(frame)]
}

// mqflux patch: a packet is read and handled on a runner goroutine shared
// by all clients, so however deep its handling goes, a client's own stack
// does not grow. The collector is off: stacks that grew stay grown, and
// the stack memory per client is the most each client's goroutine needed.
// Before, each client's goroutine handled its publish itself and its stack
// grew to 32 KiB here.
func TestPublishHandlingLeavesTheClientsStackSmall(t *testing.T) {
	const clients = 200
	s := New(&Options{Logger: logger})
	require.NoError(t, s.AddHook(new(AllowHook), nil))
	require.NoError(t, s.AddHook(new(deepHook), nil))
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	require.NoError(t, s.AddListener(tcp))
	require.NoError(t, s.Serve())
	defer s.Close()

	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", tcp.Address())
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = c.Write(rawConnect(fmt.Sprintf("c%d", i)))
		require.NoError(t, err)
		connack := make([]byte, 4)
		_, err = io.ReadFull(c, connack)
		require.NoError(t, err)
		require.Equal(t, []byte{0x20, 2, 0, 0}, connack)
		_, err = c.Write(rawPublishQos1("a/b", "reading"))
		require.NoError(t, err)
		puback := make([]byte, 4)
		n, err := io.ReadFull(c, puback)
		require.NoError(t, err, "%x", puback[:n])
		require.Equal(t, []byte{0x40, 2, 0, 1}, puback)
	}
	runtime.ReadMemStats(&after)

	perClient := (after.StackInuse - before.StackInuse) / clients
	t.Logf("%d clients: %d stack bytes each, with the runners'", clients, perClient)
	bound := uint64(8 << 10)
	if raceEnabled {
		bound = 12 << 10
	}
	require.LessOrEqual(t, perClient, bound, "stack bytes per client after a publish")
}

// mqflux patch: with DefaultRunners handlers blocked, a client's packet
// waits for a runner instead of starting one more, and is handled once
// one is free.
func TestPacketRunnerWaitsForARunnerWhenAllAreBusy(t *testing.T) {
	r := newPacketRunner(0)
	release := make(chan struct{})
	results := make(chan error, DefaultRunners+1)
	for i := 0; i < DefaultRunners; i++ {
		go func() {
			results <- r.do(newPacketJob(func() error {
				<-release
				return nil
			}))
		}()
	}
	for r.started.Load() < DefaultRunners {
		runtime.Gosched()
	}
	waited := errors.New("handled after waiting")
	go func() { results <- r.do(newPacketJob(func() error { return waited })) }()

	close(release)
	var errs []error
	for i := 0; i <= DefaultRunners; i++ {
		if err := <-results; err != nil {
			errs = append(errs, err)
		}
	}
	require.Equal(t, []error{waited}, errs)
	require.Equal(t, int32(DefaultRunners), r.started.Load(), "runners started")
}

// flushCountingConn is a Flusher that counts its flushes.
type flushCountingConn struct {
	net.Conn
	flushes int
}

func (c *flushCountingConn) Flush() error {
	c.flushes++
	return nil
}

// mqflux patch: one hand-over to a runner handles every packet that is
// whole in the buffer, leaves a partly buffered one to the client's
// goroutine, and a Flusher connection is flushed once nothing is left.
func TestHandleAndFlushTakesTheWholePacketsBuffered(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	conn := &flushCountingConn{Conn: server}
	cl := newClient(conn, &ops{options: &Options{ClientNetReadBufferSize: 4096, Capabilities: NewDefaultServerCapabilities()},
		hooks: new(Hooks), info: new(system.Info), log: logger})
	var handled []string
	handler := func(cl *Client, pk packets.Packet) error {
		handled = append(handled, string(pk.Payload))
		return nil
	}

	third := rawPublishQos1("a/b", "three")
	first := append(append(rawPublishQos1("a/b", "one"), rawPublishQos1("a/b", "two")...), third[:4]...)
	go func() { _, _ = client.Write(first) }()
	require.NoError(t, cl.waitForData())
	require.Equal(t, len(first), cl.Net.bconn.Buffered(), "one read")
	var fh packets.FixedHeader
	body, err := cl.readRaw(&fh)
	require.NoError(t, err)
	require.NoError(t, cl.handleAndFlush(&fh, body, handler))
	require.Equal(t, []string{"one", "two"}, handled, "the whole packets buffered")
	require.Equal(t, 0, conn.flushes, "flushes with part of a packet buffered")

	go func() { _, _ = client.Write(third[4:]) }()
	body, err = cl.readRaw(&fh)
	require.NoError(t, err)
	require.NoError(t, cl.handleAndFlush(&fh, body, handler))
	require.Equal(t, []string{"one", "two", "three"}, handled)
	require.Equal(t, 1, conn.flushes, "flushes once nothing is buffered")
}
