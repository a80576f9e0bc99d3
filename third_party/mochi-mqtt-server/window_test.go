// SPDX-License-Identifier: MIT

package mqtt

import (
	"sync/atomic"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch (window.go): tests of the inflight window's slow start.

// windowServer is a server whose connected clients' windows start at
// initial and grow to max.
func windowServer(initial, max uint16) *Server {
	s := quietServer(max)
	s.Options.Capabilities.InitialInflight = initial
	return s
}

// ackAll acknowledges every message in flight to cl, oldest first, as its
// client would, and returns how many.
func ackAll(t *testing.T, s *Server, cl *Client) int {
	t.Helper()
	all := cl.State.Inflight.GetAll(false)
	for _, pk := range all {
		require.NoError(t, s.processPuback(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}))
	}
	cl.maybeResume() // what its reader does after each packet
	return len(all)
}

// A subscriber that acknowledges nothing holds the initial window; each
// acknowledgement widens it by one, so that it doubles per round trip, up
// to the maximum and no further.
func TestWindowStartsSmallAndGrowsWithAcknowledgements(t *testing.T) {
	s := windowServer(4, 100)
	cl := subscribedClient(t, s, "tail", "devices/#", 1)
	s.startWindow(cl)

	publish := func(n int) {
		for i := 0; i < n; i++ {
			s.publishToSubscribers(reading("devices/a/sensors/t", 1))
		}
	}
	publish(10)
	require.Equal(t, 4, cl.State.Inflight.Len(), "the initial window")
	require.Equal(t, int64(6), atomic.LoadInt64(&s.Info.InflightDropped), "past it, dropped and counted")
	require.True(t, cl.State.paused.Load(), "a full window pauses it")

	want, dropped := 4, int64(6)
	for round := 0; round < 10; round++ {
		require.Equal(t, want, ackAll(t, s, cl))
		require.False(t, cl.State.paused.Load(), "acknowledged: room again")
		want = min(2*want, 100)
		require.Equal(t, int32(want), cl.State.window.Load(), "round %d", round)
		publish(want + 3)
		dropped += 3
		require.Equal(t, want, cl.State.Inflight.Len(), "round %d: the window, full", round)
		require.Equal(t, dropped, atomic.LoadInt64(&s.Info.InflightDropped), "round %d", round)
	}
	require.Equal(t, int32(100), cl.State.window.Load(), "never past the maximum")
}

// InitialInflight 0 is upstream's window: the maximum from the start.
func TestWindowOffIsTheMaximum(t *testing.T) {
	s := windowServer(0, 50)
	cl := subscribedClient(t, s, "tail", "devices/#", 1)
	s.startWindow(cl)
	for i := 0; i < 60; i++ {
		s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	}
	require.Equal(t, 50, cl.State.Inflight.Len())
	require.Equal(t, int64(10), atomic.LoadInt64(&s.Info.InflightDropped))
}

// A session that comes back with messages in flight starts that many
// above the initial window, so that its queue does not shut out its live
// deliveries; once its connection ends, its queue is bounded by the
// maximum again (an offline session's, max_offline_queue in mqflux).
func TestWindowOfAReturningSessionAndOfAnOfflineOne(t *testing.T) {
	s := windowServer(4, 100)
	cl := subscribedClient(t, s, "tail", "devices/#", 1)
	for i := 0; i < 10; i++ { // carried over from its last connection
		pk := reading("devices/a/sensors/t", 1)
		_, _, err := cl.addInflight(&pk, 100, false)
		require.NoError(t, err)
	}
	s.startWindow(cl)
	require.Equal(t, int32(14), cl.State.window.Load())
	for i := 0; i < 6; i++ {
		s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	}
	require.Equal(t, 14, cl.State.Inflight.Len(), "four live deliveries beside its queue")
	require.Equal(t, int64(2), atomic.LoadInt64(&s.Info.InflightDropped))

	cl.closeWindow()
	cl.maybeResume()
	s.resumeClient(cl, true) // what the end of its connection does
	for i := 0; i < 100; i++ {
		s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	}
	require.Equal(t, 100, cl.State.Inflight.Len(), "offline: queued up to the maximum")
}
