// SPDX-License-Identifier: MIT

package mqtt

import (
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch (packet-id-directions): the client and the server number
// their packets independently, and one inflight map holds both
// directions' exchanges. A publish from the client with the packet id of
// a message the server has in flight to it (a subscriber that also
// publishes) must leave that message alone: it was deleted, lost without
// a hook hearing of it, and a QoS 2 exchange overwrote it with its PUBREC.
func TestInboundPublishLeavesTheServersOwnPacketID(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		for _, v := range []byte{4, 5} {
			s := quietServer(1024)
			cl := freshSubscriber(t, s, "gateway")
			cl.Properties.ProtocolVersion = v
			cl.State.Inflight.ResetReceiveQuota(1024)                 // as its CONNECT does
			s.publishToSubscribers(reading("devices/a/sensors/t", 1)) // the server's delivery, unacknowledged
			out := cl.State.Inflight.GetAll(false)
			require.Len(t, out, 1)
			id := out[0].PacketID

			in := reading("gw/t", qos) // a topic it does not subscribe to
			in.PacketID = id
			in.ProtocolVersion = v
			require.NoError(t, s.processPacket(cl, in))
			require.False(t, cl.Closed(), "qos %d, v%d: still connected", qos, v)
			if qos == 2 {
				pubrel := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: id, ProtocolVersion: v}
				require.NoError(t, s.processPacket(cl, pubrel))
			}
			pk, ok := cl.State.Inflight.Get(id)
			require.True(t, ok, "qos %d, v%d: the server's delivery %d still in flight", qos, v, id)
			require.Equal(t, packets.Publish, pk.FixedHeader.Type, "qos %d, v%d", qos, v)
			require.Equal(t, "devices/a/sensors/t", pk.TopicName, "qos %d, v%d", qos, v)
			require.Equal(t, 1, cl.State.Inflight.Len(), "qos %d, v%d: nothing of the client's exchange left", qos, v)

			require.NoError(t, s.processPacket(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id, ProtocolVersion: v}))
			require.Zero(t, cl.State.Inflight.Len(), "qos %d, v%d: acknowledged", qos, v)
		}
	}
}

// The client's PUBREL ends its own QoS 2 publish: it gives back none of
// the server's send quota, which only the client's acknowledgements of the
// server's deliveries do. It gave one back, and a message held for the
// quota of a client at its Receive Maximum was sent.
func TestPubrelGivesBackNoSendQuota(t *testing.T) {
	s := quietServer(1024)
	cl := freshSubscriber(t, s, "gateway")
	cl.Properties.ProtocolVersion = 5
	cl.State.Inflight.ResetReceiveQuota(1024)
	cl.State.Inflight.ResetSendQuota(1)                       // a Receive Maximum of 1
	s.publishToSubscribers(reading("devices/a/sensors/t", 1)) // sent: the quota taken

	in := reading("devices/gw/sensors/t", 2) // delivered to itself too (devices/#): held
	in.PacketID, in.ProtocolVersion = 777, 5
	require.NoError(t, s.processPacket(cl, in))
	require.NoError(t, s.processPacket(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 777, ProtocolVersion: 5}))
	sent := 0
	for _, pk := range cl.State.Inflight.GetAll(false) {
		require.Equal(t, packets.Publish, pk.FixedHeader.Type)
		if pk.Expiry != -1 {
			sent++
		}
	}
	require.Equal(t, 2, cl.State.Inflight.Len())
	require.Equal(t, 1, sent, "sent past the client's Receive Maximum of 1")
	require.Zero(t, cl.State.Inflight.sendQuota)
}
