// SPDX-License-Identifier: MIT

package mqtt

import (
	"io"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch (inboundIDInUse): a SUBSCRIBE or UNSUBSCRIBE is refused
// with "packet identifier in use" only when its id is held by an exchange
// the client started, never because the server's own publish to it has
// the same id.

var packetIDInflightCases = []struct {
	name  string
	typ   byte // type of the inflight entry with the request's id
	inUse bool
}{
	{"outbound publish awaiting PUBACK", packets.Publish, false},
	{"outbound QoS 2 awaiting PUBCOMP", packets.Pubrel, false},
	{"inbound QoS 2 awaiting PUBREL", packets.Pubrec, true},
	{"inbound PUBACK not yet written", packets.Puback, true},
	{"inbound PUBCOMP not yet written", packets.Pubcomp, true},
}

// exchange has the server process pk from cl and returns what it wrote.
func exchange(t *testing.T, s *Server, cl *Client, r, w io.ReadWriteCloser, pk packets.Packet) []byte {
	t.Helper()
	errs := make(chan error, 1)
	go func() {
		errs <- s.processPacket(cl, pk)
		_ = w.Close()
	}()
	buf, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, <-errs)
	return buf
}

func TestSubscribeIDAgainstInflight(t *testing.T) {
	for _, tc := range packetIDInflightCases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer()
			cl, r, w := newTestClient()
			cl.Properties.ProtocolVersion = 5
			cl.State.Inflight.Set(packets.Packet{PacketID: 15, FixedHeader: packets.FixedHeader{Type: tc.typ}})

			pk := *packets.TPacketData[packets.Subscribe].Get(packets.TSubscribeMqtt5).Packet
			require.Equal(t, uint16(15), pk.PacketID)
			buf := exchange(t, s, cl, r, w, pk)

			if tc.inUse {
				require.Equal(t, packets.TPacketData[packets.Suback].Get(packets.TSubackPacketIDInUse).RawBytes, buf)
				require.Empty(t, s.Topics.Subscribers("a/b/c").Subscriptions)
				return
			}
			require.Equal(t, packets.TPacketData[packets.Suback].Get(packets.TSubackMqtt5).RawBytes, buf)
			require.Contains(t, s.Topics.Subscribers("a/b/c").Subscriptions, cl.ID)
			_, held := cl.State.Inflight.Get(15)
			require.True(t, held, "the server's own exchange 15 stays inflight")
		})
	}
}

func TestUnsubscribeIDAgainstInflight(t *testing.T) {
	for _, tc := range packetIDInflightCases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer()
			cl, r, w := newTestClient()
			cl.Properties.ProtocolVersion = 5
			s.Topics.Subscribe(cl.ID, packets.Subscription{Filter: "a/b", Qos: 0})
			cl.State.Inflight.Set(packets.Packet{PacketID: 15, FixedHeader: packets.FixedHeader{Type: tc.typ}})

			pk := *packets.TPacketData[packets.Unsubscribe].Get(packets.TUnsubscribeMqtt5).Packet
			require.Equal(t, uint16(15), pk.PacketID)
			buf := exchange(t, s, cl, r, w, pk)

			if tc.inUse {
				require.Equal(t, packets.TPacketData[packets.Unsuback].Get(packets.TUnsubackPacketIDInUse).RawBytes, buf)
				require.Contains(t, s.Topics.Subscribers("a/b").Subscriptions, cl.ID)
				return
			}
			require.Equal(t, packets.TPacketData[packets.Unsuback].Get(packets.TUnsubackMqtt5).RawBytes, buf)
			require.NotContains(t, s.Topics.Subscribers("a/b").Subscriptions, cl.ID)
		})
	}
}

// An MQTT 3 client refused for an id in use gets 0x80, the one failure
// code its SUBACK has, not MQTT 5's 0x91.
func TestSubscribeIDInUseInflightMqtt3(t *testing.T) {
	s := newServer()
	cl, r, w := newTestClient()
	cl.Properties.ProtocolVersion = 4
	cl.State.Inflight.Set(packets.Packet{PacketID: 15, FixedHeader: packets.FixedHeader{Type: packets.Pubrec}})

	pk := *packets.TPacketData[packets.Subscribe].Get(packets.TSubscribe).Packet
	require.Equal(t, uint16(15), pk.PacketID)
	buf := exchange(t, s, cl, r, w, pk)

	require.Equal(t, []byte{packets.Suback << 4, 3, 0, 15, packets.ErrUnspecifiedError.Code}, buf)
}
