package broker

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The short record decodes, in the pebble hook's reader, to what
// encoding/json's record of the same message decodes to; what it does not
// cover is refused, for encoding/json to write.
func TestAppendRecordDecodesAsJSON(t *testing.T) {
	publish := func(topic string, payload []byte) packets.Packet {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Remaining: 42},
			PacketID: 7, TopicName: topic, Payload: payload, Origin: "dev-0001", Created: 1733534400}
	}
	withProps := func(pk packets.Packet, f func(*packets.Properties)) packets.Packet { f(&pk.Properties); return pk }
	tests := []struct {
		name   string
		client string
		pk     packets.Packet
		short  bool
	}{
		{"reading", "tail-1", publish("devices/dev-0001/sensors/t", []byte(`{"value":21.5}`)), true},
		{"nil payload", "tail-1", publish("devices/a", nil), true},
		{"empty payload", "tail-1", publish("devices/a", []byte{}), true},
		{"binary payload", "tail-1", publish("devices/a", []byte{0, 0xff, '"', '\\', 0x80}), true},
		{"quotes, backslash and controls", "ta\"il\\1\x01\x1f\n", publish("devices/\"x\"/\\/\t", []byte("1")), true},
		{"non-ASCII and HTML", "täil-<1>&", publish("devices/ü/€/\u2028", []byte("1")), true},
		{"no origin, no created", "tail-1", func() packets.Packet {
			pk := publish("devices/a", []byte("1"))
			pk.Origin, pk.Created = "", 0
			return pk
		}(), true},
		{"dup retain qos 2", "tail-1", func() packets.Packet {
			pk := publish("devices/a", []byte("1"))
			pk.FixedHeader.Dup, pk.FixedHeader.Retain, pk.FixedHeader.Qos = true, true, 2
			return pk
		}(), true},
		{"numeric properties", "tail-1", withProps(publish("devices/a", []byte("1")), func(p *packets.Properties) {
			p.PayloadFormat, p.PayloadFormatFlag, p.MessageExpiryInterval, p.TopicAlias = 1, true, 3600, 9
		}), true},
		{"content type", "tail-1", withProps(publish("devices/a", []byte("1")), func(p *packets.Properties) { p.ContentType = "application/json" }), false},
		{"user property", "tail-1", withProps(publish("devices/a", []byte("1")), func(p *packets.Properties) {
			p.User = []packets.UserProperty{{Key: "k", Val: "v"}}
		}), false},
		{"correlation data", "tail-1", withProps(publish("devices/a", []byte("1")), func(p *packets.Properties) { p.CorrelationData = []byte("c") }), false},
		{"invalid UTF-8 topic", "tail-1", publish("devices/\xff", []byte("1")), false},
		{"invalid UTF-8 client", "tail-\xc3", publish("devices/a", []byte("1")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkRecord(t, tc.client, &queued{pk: tc.pk, seq: 1733534400123456789}, tc.short)
		})
	}
}

// Random text and payloads, ASCII controls and multi-byte runes included.
func TestAppendRecordRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	text := func() string {
		alphabet := []rune("az09/#+\"\\\x00\x01\x1f\x7f ü€😀\u2028<>&")
		rs := make([]rune, r.IntN(20))
		for i := range rs {
			rs[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(rs)
	}
	for range 2000 {
		payload := make([]byte, r.IntN(100))
		for i := range payload {
			payload[i] = byte(r.IntN(256))
		}
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: byte(r.IntN(3)), Remaining: r.IntN(1 << 20)},
			PacketID: uint16(r.IntN(65536)), TopicName: text(), Payload: payload, Origin: text(), Created: r.Int64()}
		checkRecord(t, text(), &queued{pk: pk, seq: r.Int64()}, true)
	}
}

func checkRecord(t *testing.T, client string, q *queued, short bool) {
	t.Helper()
	key := queueID{client, q.pk.PacketID}.key()
	rec, ok := appendRecord([]byte("stale"), key, client, q)
	if ok != short {
		t.Fatalf("short record %v, want %v", ok, short)
	}
	if !ok {
		if string(rec) != "stale" {
			t.Fatalf("a refused record appended %q", rec[5:])
		}
		return
	}
	js, err := message(key, client, q).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got, want storage.Message
	if err := got.UnmarshalBinary(rec[len("stale"):]); err != nil {
		t.Fatalf("decoding %s: %v", rec[5:], err)
	}
	if err := want.UnmarshalBinary(js); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("short record %s\ndecodes to %+v\nencoding/json's %s\ndecodes to %+v", rec[5:], got, js, want)
	}
}

// One record of a reading queued for an offline session.
func BenchmarkQueueRecord(b *testing.B) {
	q := &queued{seq: 1733534400123456789, pk: packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID: 7, TopicName: "devices/dev-0001/sensors/telemetry", Origin: "dev-0001", Created: 1733534400,
		Payload: []byte(`{"ts":1733534400000,"temp":21.5,"hum":40.2,"seq":1234}`)}}
	key := queueID{"offline-1", 7}.key()
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			_, _ = message(key, "offline-1", q).MarshalBinary()
		}
	})
	b.Run("short", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = appendRecord(buf[:0], key, "offline-1", q)
		}
	})
}
