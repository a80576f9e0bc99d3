package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// OnPacketRead answers a PUBLISH to a topic name the broker never routes
// ($SYS/..., a wildcard). mochi drops such a publish before its ACL check,
// without a log line or an acknowledgement, so a QoS 1 publisher waited for
// its PUBACK for ever. Here it is refused as any denied publish is: logged
// and counted, MQTT 5 gets a PUBACK "not authorized" (then mochi drops the
// packet as before), MQTT 3.1.1 has its connection closed.
func (h *authHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || cl.Net.Inline || mqtt.IsValidFilter(pk.TopicName, true) {
		return pk, nil
	}
	user := string(cl.Properties.Username)
	if u, ok := h.users[user]; ok && h.roles.allowed(u, pk.TopicName, true) {
		h.deny("publish", "reserved", cl, "publish to a topic the broker does not route refused", "user", user, "topic", pk.TopicName)
	} else {
		h.OnACLCheck(cl, pk.TopicName, true) // logs and counts the denial
	}
	if pk.FixedHeader.Qos == 0 {
		return pk, nil // nothing to answer; mochi drops it
	}
	if cl.Properties.ProtocolVersion < 5 {
		// As mochi does for a denied 3.1.1 publish. Of the errors of this
		// hook mochi heeds only ErrRejectPacket: the connection ends with it.
		cl.Stop(packets.ErrNotAuthorized)
		return pk, packets.ErrRejectPacket
	}
	ack := packets.Puback
	if pk.FixedHeader.Qos == 2 {
		ack = packets.Pubrec
	}
	err := cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: ack},
		PacketID:    pk.PacketID,
		ReasonCode:  packets.ErrNotAuthorized.Code,
	})
	return pk, err
}
