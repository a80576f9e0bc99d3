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
