// SPDX-License-Identifier: MIT

package mqtt

import (
	"sync/atomic"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch (held-order): a live publish to an MQTT 5 client waits
// behind the messages held for its Receive Maximum. A PUBACK gives a unit
// of the quota back and then releases the oldest held message; a delivery
// made between the two took that unit and overtook every held message.
func TestLiveDeliveryWaitsBehindHeldOnes(t *testing.T) {
	const quota, first = 2, 5
	s := quietServer(1024)
	cl, r, w := newTestClient()
	defer func() { _ = w.Close(); _ = r.Close() }()
	cl.ID = "reader"
	cl.ops.options, cl.ops.info, cl.ops.hooks, cl.ops.resume = s.Options, s.Info, s.hooks, s.resumeFn
	cl.Properties.ProtocolVersion = 5
	cl.State.Inflight.ResetSendQuota(quota)
	sub := packets.Subscription{Filter: "devices/#", Qos: 1}
	s.Clients.Add(cl)
	s.Topics.Subscribe(cl.ID, sub)
	cl.State.Subscriptions.Add(sub.Filter, sub)
	wire := wireReader(t, r, 5)
	publish := func(n byte) {
		pk := reading("devices/a/sensors/t", 1)
		pk.ProtocolVersion = 5
		pk.Payload = []byte{n}
		s.publishToSubscribers(pk)
	}

	for n := byte(1); n <= first; n++ {
		publish(n)
	}
	outstanding := written(t, s, cl, wire)
	require.Len(t, outstanding, quota, "sent at once: the quota; the rest held")

	// The PUBACK of the first, up to the point where it has given its
	// unit back and not yet released the next: a live publish now.
	acked := outstanding[0]
	outstanding = outstanding[1:]
	require.True(t, cl.State.Inflight.Delete(acked.PacketID))
	atomic.AddInt64(&s.Info.Inflight, -1)
	cl.State.Inflight.IncreaseSendQuota()
	publish(first + 1)

	order := []byte{acked.Payload[0]}
	outstanding = append(outstanding, written(t, s, cl, wire)...)
	for len(outstanding) > 0 {
		pk := outstanding[0]
		outstanding = outstanding[1:]
		order = append(order, pk.Payload[0])
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ProtocolVersion: 5}
		require.NoError(t, s.processPacket(cl, ack))
		outstanding = append(outstanding, written(t, s, cl, wire)...)
		require.LessOrEqual(t, len(outstanding), quota, "never more in flight than the quota")
	}
	require.Equal(t, []byte{1, 2, 3, 4, 5, 6}, order, "each once, in publish order")
	require.Zero(t, cl.State.Inflight.Len())
	require.Equal(t, int32(quota), atomic.LoadInt32(&cl.State.Inflight.sendQuota))
}

// The count of held messages follows every way a message is held,
// released, replaced, deleted and carried over (mqflux patch, held-order).
func TestHeldCountFollowsTheMap(t *testing.T) {
	i := NewInflights()
	pub := func(id uint16, expiry int64) packets.Packet {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: id, Expiry: expiry}
	}
	i.Set(pub(1, -1))
	i.Set(pub(2, -1))
	i.Set(pub(3, 0))
	i.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 4, Expiry: -1})
	require.Equal(t, 2, i.held, "two held publishes; a PUBACK is never held")
	i.Set(pub(2, 0))
	require.Equal(t, 1, i.held, "replaced by a live one")
	_, ok, _ := i.releaseNextQueued(0, func(*packets.Packet) bool { return true })
	require.True(t, ok)
	require.Equal(t, 0, i.held, "released")
	i.Set(pub(3, -1))
	require.Equal(t, 1, i.held)
	require.Equal(t, 1, i.Clone().held, "carried over with the session")
	require.True(t, i.Delete(3))
	require.Equal(t, 0, i.held, "deleted")
	var last uint32
	held, _, err := i.add(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}}, &last, 65535, 100, true)
	require.NoError(t, err)
	require.True(t, held, "no quota: held")
	require.Equal(t, 1, i.held)
	i.ResetSendQuota(5)
	held, _, err = i.add(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}}, &last, 65535, 100, true)
	require.NoError(t, err)
	require.True(t, held, "quota free, but an older one is held")
	require.Equal(t, int32(5), i.sendQuota, "no quota taken for a held one")
	require.Equal(t, 2, i.held)
}

// mqflux patch (resend-order): deliveries made while a returning
// session's queue is sent again go behind it. One publisher keeps
// publishing while the queue is resent: the client gets the queue, then
// every live message, in publish order. Written beside the resend, live
// messages went out among the queue's last ones.
func TestDeliveriesDuringAResendGoBehindIt(t *testing.T) {
	const queued, live = 200, 300
	s := quietServer(1024)
	cl, r, w := newTestClient()
	defer func() { _ = w.Close(); _ = r.Close() }()
	cl.ID = "returning"
	cl.ops.options, cl.ops.info, cl.ops.hooks, cl.ops.resume = s.Options, s.Info, s.hooks, s.resumeFn
	cl.Properties.ProtocolVersion = 4
	cl.State.Inflight.ResetSendQuota(0) // MQTT 3.1.1: no quota
	for n := 1; n <= queued; n++ {
		pk := reading("devices/a/sensors/t", 1)
		pk.Payload = []byte{byte(n >> 8), byte(n)}
		pk.PacketID = uint16(n)
		cl.State.Inflight.Set(pk) // the session's queue
	}
	cl.State.packetID = queued
	atomic.StoreInt64(&s.Info.Inflight, queued)
	cl.State.Inflight = cl.State.Inflight.Clone() // taken over by the returning connection
	sub := packets.Subscription{Filter: "devices/#", Qos: 1}
	s.Clients.Add(cl)
	s.Topics.Subscribe(cl.ID, sub)
	cl.State.Subscriptions.Add(sub.Filter, sub)
	wire := wireReader(t, r, 4)

	publish := func(n int) {
		pk := reading("devices/a/sensors/t", 1)
		pk.Payload = []byte{byte(n >> 8), byte(n)}
		s.publishToSubscribers(pk)
	}
	publish(queued + 1) // before the resend starts: it waits for it
	require.Zero(t, atomic.LoadInt32(&cl.State.outboundQty), "nothing written before the queue")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := queued + 2; n <= queued+live; n++ {
			publish(n)
		}
	}()
	require.NoError(t, cl.ResendInflightMessages(true))
	<-done

	var got []int
	for _, pk := range written(t, s, cl, wire) {
		got = append(got, int(pk.Payload[0])<<8|int(pk.Payload[1]))
	}
	want := make([]int, queued+live)
	for i := range want {
		want[i] = i + 1
	}
	require.Equal(t, want, got, "the queue, then the live messages, each once, in order")
}

// A message released for the send quota goes into the client's write
// queue under the inflight lock that released it (mqflux patch,
// release-order): a live delivery, which takes that lock to decide
// whether it waits behind held messages, can no longer find none held
// and reach the write queue before the one just released. A queue that
// refuses it leaves no entry behind.
func TestReleasedMessageIsQueuedUnderTheInflightLock(t *testing.T) {
	i := NewInflights()
	i.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, Expiry: -1})
	i.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 2, Expiry: -1})
	var queued []uint16
	pk, ok, done := i.releaseNextQueued(0, func(pk *packets.Packet) bool {
		require.False(t, i.TryLock(), "queued while the inflight lock is held")
		queued = append(queued, pk.PacketID)
		return true
	})
	require.True(t, ok)
	require.True(t, done)
	require.EqualValues(t, 1, pk.PacketID)
	require.Equal(t, []uint16{1}, queued)
	require.Equal(t, 1, i.held, "the other one still held")
	got, _ := i.Get(1)
	require.Same(t, pk, i.internal[1].pk, "the write queue and the map share the packet")
	require.EqualValues(t, 0, got.Expiry, "sent, no longer held")

	_, ok, done = i.releaseNextQueued(0, func(*packets.Packet) bool { return false })
	require.True(t, ok)
	require.False(t, done)
	require.False(t, i.Has(2), "refused by the write queue: deleted")
	require.Zero(t, i.held)
	require.Equal(t, 1, i.Len())
}
