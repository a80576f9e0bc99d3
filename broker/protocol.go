package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// v3Hook keeps what mochi sends to MQTT 3.1 and 3.1.1 clients within what
// those versions define; mochi writes two MQTT 5 things to them:
//
//   - A DISCONNECT, on shutdown and when a session is taken over. Only an
//     MQTT 5 server sends one; a 3.1.1 client reads it as a protocol error
//     (mosquitto_sub exits with one). In 3.1.1 the server just closes the
//     connection, which mochi does right after.
//   - A CONNACK with an MQTT 5 reason code it has no 3.1.1 return code for.
//     0x80 is the answer to a persistent session without a client
//     identifier, which 3.1.1 answers with 0x02, identifier rejected
//     [MQTT-3.1.3-8]. The others are protocol violations, which 3.1.1
//     answers by closing the connection without a CONNACK [MQTT-3.1.4-1].
type v3Hook struct {
	mqtt.HookBase
}

func (h *v3Hook) ID() string { return "mqflux-mqtt-3.1.1" }

func (h *v3Hook) Provides(b byte) bool { return b == mqtt.OnPacketEncode }

// OnPacketEncode rewrites or withholds a packet for a 3.x client. A
// withheld packet becomes one mochi cannot encode, so that it writes
// nothing and goes on to close the connection.
func (h *v3Hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Properties.ProtocolVersion >= 5 {
		return pk
	}
	switch pk.FixedHeader.Type {
	case packets.Disconnect:
		return withheld()
	case packets.Connack:
		switch {
		case pk.ReasonCode < packets.ErrUnspecifiedError.Code:
			return pk // 0 to 5: 3.1.1 return codes already
		case pk.ReasonCode == packets.ErrUnspecifiedError.Code:
			pk.ReasonCode = packets.Err3ClientIdentifierNotValid.Code
			return pk
		default:
			return withheld()
		}
	}
	return pk
}

// withheld is a packet of the reserved type 0, which mochi refuses to
// encode.
func withheld() packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Reserved}}
}
