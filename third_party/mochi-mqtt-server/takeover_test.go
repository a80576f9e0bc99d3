package mqtt

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// qosDrops counts OnQosDropped: a session store deletes a message's
// record there.
type qosDrops struct {
	HookBase
	n atomic.Int64
}

func (h *qosDrops) ID() string                               { return "qos-drops" }
func (h *qosDrops) Provides(b byte) bool                     { return b == OnQosDropped }
func (h *qosDrops) OnQosDropped(_ *Client, _ packets.Packet) { h.n.Add(1) }

// A session taken over keeps every delivery, including those made after
// the old connection's queue was taken and before the new connection was
// registered (publishers still find the old client then), and they go out
// after the queue, in order. Upstream copied the queue, then cleared the
// old client's map: the deliveries of that moment stayed on the old client
// and were lost, and the clear told the hooks that the moved messages were
// dropped (a session store deleted their records).
func TestDeliveriesDuringATakeoverGoToTheNewConnection(t *testing.T) {
	const each = 5
	s := quietServer(1024)
	drops := new(qosDrops)
	require.NoError(t, s.AddHook(drops, nil))
	sub := packets.Subscription{Filter: "devices/#", Qos: 1}
	publish := func(n int) {
		pk := reading("devices/a/sensors/t", 1)
		pk.Payload = []byte{byte(n)}
		s.publishToSubscribers(pk)
	}

	old, oldR, _ := newTestClient()
	defer oldR.Close()
	old.ID = "reader"
	old.ops.options, old.ops.info, old.ops.hooks, old.ops.resume = s.Options, s.Info, s.hooks, s.resumeFn
	old.Properties.ProtocolVersion = 4
	s.Clients.Add(old)
	s.Topics.Subscribe(old.ID, sub)
	old.State.Subscriptions.Add(sub.Filter, sub)
	old.Stop(errors.New("gone")) // offline: its deliveries are queued
	for n := 1; n <= each; n++ {
		publish(n)
	}
	require.Equal(t, each, old.State.Inflight.Len(), "queued for the offline session")

	cl, r, w := newTestClient()
	defer func() { _ = w.Close(); _ = r.Close() }()
	cl.ID = "reader"
	cl.ops.options, cl.ops.info, cl.ops.hooks, cl.ops.resume = s.Options, s.Info, s.hooks, s.resumeFn
	cl.Properties.ProtocolVersion = 4
	cl.State.Inflight.ResetSendQuota(0) // MQTT 3.1.1: no quota
	present := s.inheritClientSession(packets.Packet{Connect: packets.ConnectParams{Clean: false}}, cl)
	require.True(t, present)
	for n := each + 1; n <= 2*each; n++ {
		publish(n) // the old client is still the registered one
	}
	s.Clients.Add(cl)
	for n := 2*each + 1; n <= 3*each; n++ {
		publish(n)
	}
	require.Zero(t, old.State.Inflight.Len(), "nothing left on the old client")
	require.Zero(t, drops.n.Load(), "no message of the session reported dropped")
	require.EqualValues(t, 3*each, atomic.LoadInt64(&s.Info.Inflight), "every message counted in flight once")

	wire := wireReader(t, r, 4)
	require.NoError(t, cl.ResendInflightMessages(true))
	var got []int
	for _, pk := range written(t, s, cl, wire) {
		got = append(got, int(pk.Payload[0]))
	}
	want := make([]int, 3*each)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, got, "the queue, then what came during and after the takeover, in order")
}

// A session taken over by a clean start is discarded: a delivery found on
// the old client afterwards is not queued there (upstream kept it on the
// old client, whose map was never cleared again).
func TestDeliveryAfterACleanTakeoverStaysNowhere(t *testing.T) {
	s := quietServer(1024)
	sub := packets.Subscription{Filter: "devices/#", Qos: 1}
	old := subscribedClient(t, s, "reader", sub.Filter, sub.Qos)
	old.Properties.ProtocolVersion = 4
	old.Stop(errors.New("gone"))
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.Equal(t, 1, old.State.Inflight.Len())

	cl, r, w := newTestClient()
	defer func() { _ = w.Close(); _ = r.Close() }()
	cl.ID = "reader"
	cl.ops.options, cl.ops.info, cl.ops.hooks, cl.ops.resume = s.Options, s.Info, s.hooks, s.resumeFn
	require.False(t, s.inheritClientSession(packets.Packet{Connect: packets.ConnectParams{Clean: true}}, cl))
	s.Topics.Subscribe(old.ID, sub) // a publisher that matched before the unsubscribe
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	require.Zero(t, old.State.Inflight.Len(), "the discarded session queues nothing")
	require.Zero(t, cl.State.Inflight.Len(), "nor does the clean one")
	require.Zero(t, atomic.LoadInt64(&s.Info.Inflight))
}
