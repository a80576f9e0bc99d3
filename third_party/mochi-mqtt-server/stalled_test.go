// SPDX-License-Identifier: MIT

package mqtt

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch (stalled.go): tests of pausing a client that loses every
// delivery.

func quietServer(inflight uint16) *Server {
	s := New(&Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	s.Options.Capabilities.MaximumInflight = inflight
	_ = s.AddHook(new(AllowHook), nil)
	return s
}

// subscribedClient is a client of s subscribed to filter at qos, whose
// connection is read and discarded.
func subscribedClient(t testing.TB, s *Server, id, filter string, qos byte) *Client {
	cl, r, _ := newTestClient()
	t.Cleanup(func() { r.Close() })
	go func() { _, _ = io.Copy(io.Discard, r) }()
	cl.ID = id
	cl.ops.options, cl.ops.info, cl.ops.hooks, cl.ops.resume = s.Options, s.Info, s.hooks, s.resumeFn
	sub := packets.Subscription{Filter: filter, Qos: qos}
	s.Clients.Add(cl)
	s.Topics.Subscribe(cl.ID, sub)
	cl.State.Subscriptions.Add(filter, sub)
	return cl
}

func inIndex(s *Server, cl *Client, topic string) bool {
	_, ok := s.Topics.Subscribers(topic).Subscriptions[cl.ID]
	return ok
}

func reading(topic string, qos byte) packets.Packet {
	return packets.Packet{TopicName: topic, Payload: []byte("21.5"), Created: 1,
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}}
}

// A client whose write queue is full leaves the index at its first lost
// delivery; every later one its filters match is counted all the same; it
// is back as soon as its queue has room, and gets the next delivery.
func TestStalledClientIsPausedWhileItsQueueIsFull(t *testing.T) {
	s := quietServer(1024)
	cl := subscribedClient(t, s, "stalled", "devices/#", 1)
	full := s.Options.Capabilities.MaximumClientWritesPending
	atomic.StoreInt32(&cl.State.outboundQty, full)

	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.True(t, cl.State.paused.Load(), "paused after its first lost delivery")
	require.False(t, inIndex(s, cl, "devices/a/sensors/t"), "out of the index while paused")

	for i := 0; i < 10; i++ {
		s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	}
	s.publishToSubscribers(reading("other/a", 1)) // not its filter: no drop
	require.Equal(t, int64(11), atomic.LoadInt64(&s.Info.MessagesDropped))
	require.Equal(t, int64(11), cl.State.drops.Load(), "the episode counts the drops made while paused")

	atomic.StoreInt32(&cl.State.outboundQty, 0)
	cl.maybeResume() // what its writer does after a write
	require.False(t, cl.State.paused.Load())
	require.True(t, inIndex(s, cl, "devices/a/sensors/t"), "back in the index")

	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.Equal(t, 1, cl.State.Inflight.Len(), "delivered again")
	require.Equal(t, int64(11), atomic.LoadInt64(&s.Info.MessagesDropped))
}

// A client whose inflight window is full is paused for QoS 1 deliveries,
// still gets QoS 0 ones, and is back when its PUBACK frees the window.
func TestStalledClientIsPausedWhileItsWindowIsFull(t *testing.T) {
	s := quietServer(2)
	cl := subscribedClient(t, s, "stalled", "devices/#", 1)
	for i := 0; i < 3; i++ {
		s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	}
	require.Equal(t, 2, cl.State.Inflight.Len())
	require.True(t, cl.State.paused.Load())
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.Equal(t, int64(2), atomic.LoadInt64(&s.Info.InflightDropped))

	sentBefore := atomic.LoadInt64(&s.Info.MessagesDropped)
	s.publishToSubscribers(reading("devices/a/sensors/t", 0))
	require.Equal(t, int64(2), atomic.LoadInt64(&s.Info.InflightDropped), "a QoS 0 delivery is not held by the window")
	require.Equal(t, sentBefore, atomic.LoadInt64(&s.Info.MessagesDropped))

	first := cl.State.Inflight.GetAll(false)[0].PacketID
	require.NoError(t, s.processPacket(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: first}))
	require.False(t, cl.State.paused.Load(), "its PUBACK resumed it")
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.Equal(t, 2, cl.State.Inflight.Len(), "delivered again")
	require.Equal(t, int64(2), atomic.LoadInt64(&s.Info.InflightDropped))
}

// A paused client that unsubscribes loses the filter for good, and one
// that disconnects has its filters back in the index (a persistent
// session's offline queue needs them).
func TestPausedClientUnsubscribesAndDisconnects(t *testing.T) {
	s := quietServer(1024)
	cl := subscribedClient(t, s, "stalled", "devices/#", 1)
	other := packets.Subscription{Filter: "alerts/#", Qos: 1}
	s.Topics.Subscribe(cl.ID, other)
	cl.State.Subscriptions.Add(other.Filter, other)
	atomic.StoreInt32(&cl.State.outboundQty, s.Options.Capabilities.MaximumClientWritesPending)
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.True(t, cl.State.paused.Load())
	require.False(t, inIndex(s, cl, "alerts/x"))

	require.NoError(t, s.processUnsubscribe(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe},
		PacketID: 7, Filters: packets.Subscriptions{{Filter: "devices/#"}}}))
	dropped := atomic.LoadInt64(&s.Info.MessagesDropped)
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.Equal(t, dropped, atomic.LoadInt64(&s.Info.MessagesDropped), "no drop counted for a filter it left")

	cl.Stop(nil)
	s.resumeClient(cl, true)
	require.False(t, cl.State.paused.Load())
	require.True(t, inIndex(s, cl, "alerts/x"), "filters back in the index")
	require.False(t, inIndex(s, cl, "devices/a/sensors/t"), "the filter it left stays out")
	require.Eventually(t, func() bool { return len(s.paused.load()) == 0 }, 30*time.Second, 10*time.Millisecond,
		"a resumed client leaves the list after resumedGrace")
}

// matchFilter matches as the topic index does.
func TestMatchFilterAgreesWithTheIndex(t *testing.T) {
	filters := []string{"#", "+", "+/+", "a", "a/#", "a/+", "a/+/c", "a/b/c", "+/b/#", "$SYS/#", "$SYS/+", "a//c", "a/+/+/#", "/a", "+/a"}
	topics := []string{"a", "a/b", "a/b/c", "a/b/c/d", "b/b/c", "$SYS/x", "$SYS", "a//c", "/a", "a/", "x"}
	for _, f := range filters {
		for _, topic := range topics {
			x := NewTopicsIndex()
			x.Subscribe("c", packets.Subscription{Filter: f})
			_, want := x.Subscribers(topic).Subscriptions["c"]
			require.Equalf(t, want, matchFilter(f, topic), "filter %q, topic %q", f, topic)
		}
	}
}

// What a publish costs with 0, 1 and 8 subscribers that lose every
// delivery (paused after the first).
func BenchmarkPublishToStalledSubscribers(b *testing.B) {
	for _, n := range []int{0, 1, 8} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := quietServer(1024)
			for i := 0; i < n; i++ {
				cl := subscribedClient(b, s, fmt.Sprintf("stalled-%d", i), "devices/#", 1)
				atomic.StoreInt32(&cl.State.outboundQty, s.Options.Capabilities.MaximumClientWritesPending)
			}
			pk := reading("devices/a/sensors/t", 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.publishToSubscribers(pk)
			}
		})
	}
}

// countQos counts the QoS 1 deliveries issued.
type countQos struct {
	HookBase
	n atomic.Int64
}

func (h *countQos) ID() string { return "count-qos" }
func (h *countQos) Provides(b byte) bool {
	return b == OnQosPublish
}
func (h *countQos) OnQosPublish(*Client, packets.Packet, int64, int) { h.n.Add(1) }

// Publishers on four goroutines while the subscriber's window fills and
// is freed again and again (it is paused and resumed all along): every
// publish is either delivered or counted as dropped, never both or
// neither.
func TestPausingLosesNoPublishUncounted(t *testing.T) {
	s := quietServer(4)
	counter := new(countQos)
	_ = s.AddHook(counter, nil)
	cl := subscribedClient(t, s, "stalled", "devices/#", 1)
	const publishers, each = 4, 5000
	done := make(chan struct{})
	acked := make(chan struct{})
	var sawPaused atomic.Bool
	go func() { // the subscriber acknowledges now and then
		defer close(acked)
		for {
			select {
			case <-done:
				return
			default:
			}
			for _, pk := range cl.State.Inflight.GetAll(false) {
				_ = s.processPacket(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
			}
		}
	}()
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				s.publishToSubscribers(reading("devices/a/sensors/t", 1))
				if cl.State.paused.Load() {
					sawPaused.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	<-acked
	dropped := atomic.LoadInt64(&s.Info.InflightDropped) + atomic.LoadInt64(&s.Info.MessagesDropped)
	require.Greater(t, dropped, int64(0), "nothing dropped: the window never filled")
	require.True(t, sawPaused.Load(), "never paused")
	require.Equal(t, int64(publishers*each), counter.n.Load()+dropped,
		"%d delivered + %d dropped", counter.n.Load(), dropped)
}
