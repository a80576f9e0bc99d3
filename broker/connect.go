package broker

import (
	"math"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// admit checks what a CONNECT asks for beyond the login of u: its Last
// Will, and the client id it presents. A refused client has had its CONNACK
// and its connection is closed.
func (h *authHook) admit(cl *mqtt.Client, pk packets.Packet, u User) bool {
	if pk.Connect.WillFlag && !h.mayPublish(u, pk.Connect.WillTopic) {
		h.deny("connect", "will_acl", cl, "last will refused: the user may not publish to its topic",
			"user", u.Name, "role", u.Role, "topic", pk.Connect.WillTopic)
		refuseConnect(cl, packets.ErrNotAuthorized)
		return false
	}
	if owner, ok := h.owners.claim(cl); !ok {
		h.deny("connect", "client_id_owner", cl, "client id refused: its session belongs to another user",
			"user", u.Name, "owner", owner)
		refuseConnect(cl, packets.ErrClientIdentifierNotValid)
		return false
	}
	return true
}

// mayPublish is the publish ACL of u for a topic name: the role table, and
// only names the broker routes — mochi drops a PUBLISH to $SYS/... or
// with a wildcard, whoever sends it, so a will there is refused as well.
func (h *authHook) mayPublish(u User, name string) bool {
	return mqtt.IsValidFilter(name, true) && h.roles.allowed(u, name, true)
}

// v3Connack holds the MQTT 3.1.1 return codes of the refusals admit makes.
// (mochi converts some reason codes itself, but not "not authorized", and
// it would send a 3.1.1 client the MQTT 5 code instead.)
var v3Connack = map[packets.Code]packets.Code{
	packets.ErrNotAuthorized:            packets.Err3NotAuthorized,
	packets.ErrClientIdentifierNotValid: packets.Err3ClientIdentifierNotValid,
}

// refuseConnect answers a CONNECT with code and closes the connection.
// mochi's own CONNACK for a failed authentication can only say "bad user
// name or password"; once the connection is closed mochi writes nothing
// more.
func refuseConnect(cl *mqtt.Client, code packets.Code) {
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code.Code}
	if cl.Properties.ProtocolVersion < 5 {
		ack.ReasonCode = v3Connack[code].Code
	} else {
		ack.Properties.ReasonString = code.Reason
	}
	_ = cl.WritePacket(ack) // the client may be gone already; it is refused either way
	cl.Stop(code)
}

// keepaliveHook gives a client that asks for no keep-alive, or for one
// longer than Config.MaxKeepalive, that maximum instead: mochi tells an
// MQTT 5 client in the CONNACK (Server Keep Alive, [MQTT-3.2.2-21]) and
// closes any connection silent for 1.5 times its keep-alive
// [MQTT-3.1.2-22]. A 3.1.1 client cannot be told; it is held to the same
// bound, so one that asks for more and pings only that often is
// disconnected: the maximum must exceed the devices' keep-alive.
type keepaliveHook struct {
	mqtt.HookBase
	max uint16 // seconds
}

func newKeepaliveHook(max time.Duration) *keepaliveHook {
	return &keepaliveHook{max: uint16(min(max/time.Second, math.MaxUint16))}
}

func (h *keepaliveHook) ID() string { return "mqflux-keepalive" }

func (h *keepaliveHook) Provides(b byte) bool { return b == mqtt.OnConnect }

// OnConnect runs after mochi took the keep-alive from the CONNECT and
// before it sets the first deadline and writes the CONNACK.
func (h *keepaliveHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if k := pk.Connect.Keepalive; h.max > 0 && (k == 0 || k > h.max) {
		cl.State.Keepalive = h.max
		cl.State.ServerKeepalive = true
	}
	return nil
}
