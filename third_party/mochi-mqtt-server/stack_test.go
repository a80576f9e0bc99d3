// SPDX-License-Identifier: MIT

package mqtt

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/stretchr/testify/require"
)

// rawConnect is an MQTT 3.1.1 CONNECT with a clean session, keepalive 60.
func rawConnect(id string) []byte {
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(id))}, id...)
	return append([]byte{0x10, byte(len(body))}, body...)
}

// rawPublishQos1 is a QoS 1 PUBLISH with packet id 1.
func rawPublishQos1(topic, payload string) []byte {
	body := append([]byte{0, byte(len(topic))}, topic...)
	body = append(body, 0, 1)
	body = append(body, payload...)
	return append([]byte{0x32, byte(len(body))}, body...)
}

// mqflux patch: a client that has published and now waits for its next
// packet holds one goroutine (no write loop while nothing is queued), and
// that goroutine waits in a frame small enough for the collector to shrink
// its stack back to the 8 KiB a new goroutine starts with (the connect
// handshake is off the stack, the packet is read in a frame of its own).
// Before, each client held two goroutines and the reader's stack stayed at
// 16 KiB or more: with 10,000 devices that was most of the broker's memory.
func TestIdleClientHoldsOneGoroutineAndASmallStack(t *testing.T) {
	const clients = 200
	s := New(&Options{Logger: logger}) // default capabilities: a receive maximum for QoS 1
	require.NoError(t, s.AddHook(new(AllowHook), nil))
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	require.NoError(t, s.AddListener(tcp))
	require.NoError(t, s.Serve())
	defer s.Close()

	before := idleStacks()
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
	after := idleStacks()

	goroutines := after.goroutines - before.goroutines
	require.LessOrEqual(t, goroutines, clients+clients/10, "goroutines per idle client: about one")
	perClient := (after.stack - before.stack) / uint64(clients)
	t.Logf("%d clients: %d goroutines, %d stack bytes each", clients, goroutines, perClient)
	// 4 KiB each here once shrunk; 16 KiB or more when idle clients kept
	// their grown stacks. The bound leaves room for a few clients whose
	// goroutine was not parked when the collector looked.
	require.LessOrEqual(t, perClient, uint64(10<<10), "stack bytes per idle client")
}

type stacks struct {
	goroutines int
	stack      uint64
}

// idleStacks collects twice (a collection halves a stack at most once),
// then reads the goroutines and the stack memory in use.
func idleStacks() stacks {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return stacks{goroutines: runtime.NumGoroutine(), stack: m.StackInuse}
}
