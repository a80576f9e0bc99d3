//go:build unix

package broker

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// A device with a persistent session that takes its settings from its own
// subtree and publishes readings numbers its publishes itself: one of them
// may carry the packet id of a setting the server has not yet had
// acknowledged. The setting must survive it and be sent again when the
// device comes back; the server deleted it (PATCHES.md, "A client's
// packet ids are its own").
func TestDevicePublishKeepsTheServersDeliveryOfTheSameID(t *testing.T) {
	fb := startBenchBroker(t, DefaultConfig())
	dev, r := fb.dial(t, "pi-1", "pi-1", false)
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 4, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "devices/pi-1/config/#", Qos: 1}}}
	writePacket(t, dev, sub.SubscribeEncode)
	if typ, body := readPacket(t, r); typ != packets.Suback || body[2] != 1 {
		t.Fatalf("subscribe: packet type %d, %x", typ, body)
	}

	gw, gr := fb.dial(t, "gw", "gw", true)
	setting := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4, PacketID: 1,
		TopicName: "devices/pi-1/config/interval", Payload: []byte("30")}
	writePacket(t, gw, setting.PublishEncode)
	if typ, _ := readPacket(t, gr); typ != packets.Puback {
		t.Fatalf("gateway: packet type %d, want its PUBACK", typ)
	}
	id := readDelivery(t, dev, r, false)

	reading := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4, PacketID: id,
		TopicName: "devices/pi-1/sensors/climate", Payload: []byte(`{"temperature": 21.5}`)}
	writePacket(t, dev, reading.PublishEncode)
	if typ, body := readPacket(t, r); typ != packets.Puback || int(body[0])<<8|int(body[1]) != int(id) {
		t.Fatalf("device: packet type %d, %x, want the PUBACK of %d", typ, body, id)
	}
	_ = dev.Close()
	fb.waitGone(t, "pi-1", true)

	dev, r = fb.dial(t, "pi-1", "pi-1", false)
	defer dev.Close()
	if again := readDelivery(t, dev, r, true); again != id {
		t.Fatalf("the setting came back as packet %d, want %d", again, id)
	}
}

// readDelivery reads the setting's delivery to the device (dup: resent)
// and returns its packet id; nothing within 30 s fails the test.
func readDelivery(t *testing.T, c net.Conn, r *bufio.Reader, dup bool) uint16 {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	first, err := r.Peek(1)
	if err != nil {
		t.Fatalf("the setting was not delivered: %v", err)
	}
	typ, body := readPacket(t, r)
	if typ != packets.Publish || (first[0]&0x08 != 0) != dup {
		t.Fatalf("packet type %d (flags %x), want the setting's PUBLISH with DUP %v", typ, first[0]&0x0f, dup)
	}
	n := int(body[0])<<8 | int(body[1])
	topic := string(body[2 : 2+n])
	if topic != "devices/pi-1/config/interval" {
		t.Fatalf("delivered %q, want the setting", topic)
	}
	return uint16(body[2+n])<<8 | uint16(body[3+n])
}
