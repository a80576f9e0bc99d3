// SPDX-License-Identifier: MIT

package mqtt

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch (Inflight.add): tests of a delivery's inflight entry.

// freshSubscriber is a subscriber with no send quota of its own (an MQTT
// 3.1.1 client), its connection read and discarded.
func freshSubscriber(tb testing.TB, s *Server, id string) *Client {
	cl := subscribedClient(tb, s, id, "devices/#", 1)
	cl.State.Inflight.ResetSendQuota(0)
	return cl
}

// Publishers delivering to one subscriber at once never take it past its
// window, never give two messages one packet id, and every publish is
// delivered or counted as dropped.
func TestConcurrentDeliveriesKeepTheWindow(t *testing.T) {
	const window, publishers, each = 64, 8, 2000
	s := quietServer(window)
	counter := new(countQos)
	_ = s.AddHook(counter, nil)
	cl := freshSubscriber(t, s, "reader")
	var wg sync.WaitGroup
	var over atomic.Int64
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				s.publishToSubscribers(reading("devices/a/sensors/t", 1))
				if n := cl.State.Inflight.Len(); n > window {
					over.Store(int64(n))
				}
				if i%100 == 99 { // the subscriber acknowledges now and then
					for _, pk := range cl.State.Inflight.GetAll(false) {
						_ = s.processPacket(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
					}
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, over.Load(), "inflight messages past the window of %d", window)
	msgs := cl.State.Inflight.GetAll(false)
	require.LessOrEqual(t, len(msgs), window)
	require.Equal(t, len(msgs), cl.State.Inflight.Len())
	ids := map[uint16]bool{}
	for _, pk := range msgs {
		require.False(t, ids[pk.PacketID], "packet id %d twice", pk.PacketID)
		ids[pk.PacketID] = true
	}
	dropped := atomic.LoadInt64(&s.Info.InflightDropped) + atomic.LoadInt64(&s.Info.MessagesDropped)
	require.Equal(t, int64(publishers*each), counter.n.Load()+dropped)
}

// A message held for the client's send quota is stored held, and the
// hooks see it as it was published.
func TestDeliveryHeldForTheSendQuota(t *testing.T) {
	s := quietServer(16)
	seen := new(qosSeen)
	_ = s.AddHook(seen, nil)
	cl := freshSubscriber(t, s, "reader")
	cl.State.Inflight.ResetSendQuota(1) // an MQTT 5 Receive Maximum of 1
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	msgs := cl.State.Inflight.GetAll(false)
	require.Len(t, msgs, 2)
	require.Positive(t, msgs[0].Expiry, "the first is sent, with the publish's expiry")
	require.Equal(t, int64(-1), msgs[1].Expiry, "the second waits for quota")
	next, ok := cl.State.Inflight.NextImmediate()
	require.True(t, ok)
	require.Equal(t, msgs[1].PacketID, next.PacketID)
	require.Equal(t, []int64{msgs[0].Expiry, msgs[0].Expiry}, seen.expiry, "the hooks see the message as published")
}

type qosSeen struct {
	HookBase
	mu     sync.Mutex
	expiry []int64
}

func (h *qosSeen) ID() string           { return "qos-seen" }
func (h *qosSeen) Provides(b byte) bool { return b == OnQosPublish }
func (h *qosSeen) OnQosPublish(_ *Client, pk packets.Packet, _ int64, _ int) {
	h.mu.Lock()
	h.expiry = append(h.expiry, pk.Expiry)
	h.mu.Unlock()
}

// A delivery to a subscriber whose window has room allocates its copy of
// the packet, once (the inflight map holds the one queued for writing),
// and writing it reuses an encoding buffer: 25 allocations for a publish
// to 8 subscribers, 33 before.
func TestDeliveryAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := quietServer(65535)
	var subs []*Client
	for i := 0; i < 8; i++ {
		subs = append(subs, freshSubscriber(t, s, fmt.Sprintf("reader-%d", i)))
	}
	pk := reading("devices/a/sensors/t", 1)
	s.publishToSubscribers(pk) // the maps and queues of a first delivery
	perPublish := testing.AllocsPerRun(200, func() { s.publishToSubscribers(pk) })
	for _, cl := range subs {
		require.Greater(t, cl.State.Inflight.Len(), 200)
	}
	t.Logf("%.1f allocations per publish to 8 subscribers", perPublish)
	require.LessOrEqual(t, perPublish/8, 3.5, "%.1f allocations per publish to 8 subscribers", perPublish)
}

// What a publish to subscribers whose windows have room costs: the first
// deliveries to new subscribers.
func BenchmarkDeliveryToNewSubscribers(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := quietServer(65535)
			var subs []*Client
			for i := 0; i < n; i++ {
				subs = append(subs, freshSubscriber(b, s, fmt.Sprintf("reader-%d", i)))
			}
			pk := reading("devices/a/sensors/t", 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%8192 == 8191 { // new subscribers, as far as their windows go
					b.StopTimer()
					for _, cl := range subs {
						cl.ClearInflights()
					}
					b.StartTimer()
				}
				s.publishToSubscribers(pk)
			}
		})
	}
}

// A paused client that disconnected with a clean session is resumed and
// stays on the list of paused clients a while (resumedGrace); the
// publishes meanwhile are not offered to it.
func TestGoneClientOnThePausedListGetsNothing(t *testing.T) {
	s := quietServer(1024)
	cl := freshSubscriber(t, s, "gone")
	atomic.StoreInt32(&cl.State.outboundQty, s.Options.Capabilities.MaximumClientWritesPending)
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.True(t, cl.State.paused.Load())
	atomic.StoreInt32(&cl.State.outboundQty, 0)

	cl.Stop(nil) // what the server does when a clean session's connection ends
	s.resumeClient(cl, true)
	s.UnsubscribeClient(cl)
	s.Clients.Delete(cl.ID)
	require.Len(t, s.paused.load(), 1, "still on the list for resumedGrace")

	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.Zero(t, cl.State.Inflight.Len(), "a delivery made to a client that is gone")
}
