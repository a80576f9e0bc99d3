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

// topicAliasMaximum is how many topic aliases an MQTT 5 client may set on
// one connection. Each holds a topic name (up to max_packet_size) for the
// connection's life; a device publishing to a few topics needs a few.
const topicAliasMaximum = 16

// topicAliasHook makes topic aliases work as MQTT 5 defines them:
//
//   - The CONNACK carries the server's Topic Alias Maximum; mochi accepted
//     aliases but never said so, and a client told nothing may not use
//     any [MQTT-3.2.2-17].
//   - A PUBLISH by alias alone (an empty topic name) is given its topic
//     name as it is read, before any other hook or check sees it: mochi
//     looked the alias up only after its ACL check, which then judged the
//     empty name and refused every such publish "not authorized". An
//     alias the connection never set is a Protocol Error (MQTT 5,
//     3.3.2.3.4): DISCONNECT 0x82, connection closed. An alias above the
//     maximum is left to mochi, which disconnects with 0x94.
type topicAliasHook struct {
	mqtt.HookBase
	max uint16
}

func (h *topicAliasHook) ID() string { return "mqflux-topic-alias" }

func (h *topicAliasHook) Provides(b byte) bool {
	return b == mqtt.OnPacketRead || b == mqtt.OnPacketEncode
}

func (h *topicAliasHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion >= 5 && pk.ReasonCode == packets.CodeSuccess.Code {
		pk.Properties.TopicAliasMaximum = h.max
	}
	return pk
}

func (h *topicAliasHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	alias := pk.Properties.TopicAlias
	if pk.FixedHeader.Type != packets.Publish || !pk.Properties.TopicAliasFlag || alias == 0 || alias > h.max || cl.Net.Inline {
		return pk, nil
	}
	// mochi's table has no lookup: Set with an empty name returns the
	// name the alias stands for, and with a name records it (as mochi does
	// again later, with the same name).
	name := cl.State.TopicAliases.Inbound.Set(alias, pk.TopicName)
	if name == "" {
		code := packets.Code{Code: packets.ErrProtocolViolation.Code, Reason: "protocol violation: topic alias not set on this connection"}
		_ = cl.WritePacket(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
			ReasonCode:  code.Code,
			Properties:  packets.Properties{ReasonString: code.Reason},
		})
		cl.Stop(code)
		return pk, packets.ErrRejectPacket // mochi ends the connection
	}
	pk.TopicName = name
	return pk, nil
}
