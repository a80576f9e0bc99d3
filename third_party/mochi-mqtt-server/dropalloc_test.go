// SPDX-License-Identifier: MIT

package mqtt

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch: a delivery dropped to a client that does not read costs no
// allocation. The failure was logged at Debug with the packet as an
// argument, which boxed a copy of the packet on the heap for every
// subscriber that dropped it, whether or not Debug was enabled: with eight
// stalled subscribers, most of the cost of every publish.
func TestDroppedDeliveriesAllocateNothingPerSubscriber(t *testing.T) {
	allocs := func(stalled int) float64 {
		s := New(&Options{
			Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		})
		_ = s.AddHook(new(AllowHook), nil)
		for i := 0; i < stalled; i++ {
			cl, r, _ := newTestClient()
			t.Cleanup(func() { r.Close() })
			cl.ID = fmt.Sprintf("stalled-%d", i)
			atomic.StoreInt32(&cl.State.outboundQty, cl.ops.options.Capabilities.MaximumClientWritesPending)
			s.Clients.Add(cl)
			sub := packets.Subscription{Filter: "devices/#", Qos: 1}
			s.Topics.Subscribe(cl.ID, sub)
			cl.State.Subscriptions.Add(sub.Filter, sub)
		}
		pk := packets.Packet{TopicName: "devices/a/sensors/t", Payload: []byte("21.5"), Created: 1,
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}}
		return testing.AllocsPerRun(200, func() { s.publishToSubscribers(pk) })
	}
	one, eight := allocs(1), allocs(8)
	require.LessOrEqualf(t, eight-one, 1.0,
		"publishing to 8 stalled subscribers allocated %.1f times per publish, to 1: %.1f", eight, one)
}

// mqflux patch: a delivery queued for a persistent session whose client is
// gone allocates the copy it keeps (the packet and its payload) and
// nothing more: the answer that the client is gone was a packets.Code
// boxed as an error once per such session and publish.
func TestDeliveryToAGoneClientAllocatesOnlyItsCopy(t *testing.T) {
	s := quietServer(1024)
	cl, _, _ := newTestClient()
	cl.ID = "gone"
	cl.State.Inflight.ResetSendQuota(0) // MQTT 3.1.1: nothing held for a quota
	cl.Stop(packets.CodeDisconnect)
	s.Clients.Add(cl)
	sub := packets.Subscription{Filter: "devices/#", Qos: 1}
	pk := reading("devices/a/sensors/t", 1)
	var err error
	queued := 0
	allocs := testing.AllocsPerRun(200, func() {
		var out packets.Packet
		out, err = s.publishToClient(cl, sub, pk)
		if cl.State.Inflight.Delete(out.PacketID) {
			queued++
		}
	})
	require.ErrorIs(t, err, packets.CodeDisconnect)
	require.Equal(t, 201, queued, "every delivery queued for the session")
	require.LessOrEqualf(t, allocs, 2.0, "a delivery to a gone client allocated %.1f times", allocs)
}
