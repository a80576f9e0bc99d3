package broker

import (
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// What a 3.x client is sent instead of mochi's MQTT 5 packets; an MQTT 5
// client gets them unchanged.
func TestV3HookKeepsTo311(t *testing.T) {
	connack := func(code byte) packets.Packet {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code}
	}
	disconnect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: packets.ErrServerShuttingDown.Code}
	cases := []struct {
		name     string
		version  byte
		in       packets.Packet
		wantType byte // packets.Reserved: withheld
		wantCode byte
	}{
		{"3.1.1 accepted", 4, connack(0), packets.Connack, 0},
		{"3.1.1 not authorized", 4, connack(packets.Err3NotAuthorized.Code), packets.Connack, packets.Err3NotAuthorized.Code},
		{"3.1.1 unspecified: identifier rejected", 4, connack(packets.ErrUnspecifiedError.Code), packets.Connack, packets.Err3ClientIdentifierNotValid.Code},
		{"3.1.1 protocol violation: no CONNACK", 4, connack(packets.ErrProtocolViolation.Code), packets.Reserved, 0},
		{"3.1 malformed: no CONNACK", 3, connack(packets.ErrMalformedPacket.Code), packets.Reserved, 0},
		{"3.1.1 DISCONNECT withheld", 4, disconnect, packets.Reserved, 0},
		{"5 DISCONNECT sent", 5, disconnect, packets.Disconnect, packets.ErrServerShuttingDown.Code},
		{"5 protocol violation sent", 5, connack(packets.ErrProtocolViolation.Code), packets.Connack, packets.ErrProtocolViolation.Code},
		{"3.1.1 PUBACK untouched", 4, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 7}, packets.Puback, 0},
	}
	h := new(v3Hook)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := &mqtt.Client{}
			cl.Properties.ProtocolVersion = tc.version
			got := h.OnPacketEncode(cl, tc.in)
			if got.FixedHeader.Type != tc.wantType || got.ReasonCode != tc.wantCode {
				t.Fatalf("sent type %d code 0x%02x, want type %d code 0x%02x", got.FixedHeader.Type, got.ReasonCode, tc.wantType, tc.wantCode)
			}
		})
	}
}
