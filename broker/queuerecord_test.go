package broker

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The binary record decodes to the message the JSON record is made of;
// what it does not cover is refused, for encoding/json to write.
func TestAppendRecordDecodesWhole(t *testing.T) {
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
		{"invalid UTF-8 topic", "tail-1", publish("devices/\xff", []byte("1")), true},
		{"invalid UTF-8 client", "tail-\xc3", publish("devices/a", []byte("1")), true},
		{"big numbers", "tail-1", func() packets.Packet {
			pk := publish("devices/a", []byte("1"))
			pk.Created, pk.PacketID, pk.FixedHeader.Remaining = -1<<62, 65535, 268435455
			return pk
		}(), true},
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
	rec, ok := appendRecord([]byte("stale"), client, q)
	if ok != short {
		t.Fatalf("binary record %v, want %v", ok, short)
	}
	if !ok {
		if string(rec) != "stale" {
			t.Fatalf("a refused record appended %q", rec[5:])
		}
		return
	}
	if n := len(rec) - len("stale"); n > recordLen(client, q) {
		t.Fatalf("record of %d bytes, recordLen said at most %d", n, recordLen(client, q))
	}
	got, err := decodeRecord(key, rec[len("stale"):])
	if err != nil {
		t.Fatalf("decoding %x: %v", rec[5:], err)
	}
	if want := *message(key, client, q); !reflect.DeepEqual(got, want) {
		t.Fatalf("binary record %x\ndecodes to %+v\nwant       %+v", rec[5:], got, want)
	}
}

// A JSON record, as the pebble hook and earlier versions wrote it, reads
// back as before; a binary record cut anywhere is an error, never a
// message.
func TestDecodeRecordReadsJSONAndRefusesCutRecords(t *testing.T) {
	q := &queued{seq: 1733534400123456789, pk: packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID: 7, TopicName: "devices/dev-0001/sensors/t", Origin: "dev-0001", Created: 1733534400, Payload: []byte(`{"t":21.5}`)}}
	key := queueID{"tail-1", 7}.key()
	js, err := message(key, "tail-1", q).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var want storage.Message
	if err := want.UnmarshalBinary(js); err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(key, js)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON record decodes to %+v, %v; want %+v", got, err, want)
	}
	rec, _ := appendRecord(nil, "tail-1", q)
	payloadAt := len(rec) - len(q.pk.Payload)
	for n := 1; n < payloadAt; n++ {
		if m, err := decodeRecord(key, rec[:n]); err == nil {
			t.Fatalf("record cut to %d of %d bytes decoded to %+v", n, len(rec), m)
		}
	}
	if _, err := decodeRecord(key, []byte("{not json")); err == nil || !strings.Contains(err.Error(), key) {
		t.Fatalf("broken JSON record: %v, want an error naming %s", err, key)
	}
}

// One record of a reading queued for an offline session.
func BenchmarkQueueRecord(b *testing.B) {
	q := &queued{seq: 1733534400123456789, pk: packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID: 7, TopicName: "devices/dev-0001/sensors/telemetry", Origin: "dev-0001", Created: 1733534400,
		Payload: []byte(`{"ts":1733534400000,"temp":21.5,"hum":40.2,"seq":1234}`)}}
	key := queueID{"offline-1", 7}.key()
	b.Run("json", func(b *testing.B) {
		var rec []byte
		for b.Loop() {
			rec, _ = message(key, "offline-1", q).MarshalBinary()
		}
		b.ReportMetric(float64(len(rec)), "bytes/record")
	})
	b.Run("binary", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = appendRecord(buf[:0], "offline-1", q)
		}
		b.ReportMetric(float64(len(buf)), "bytes/record")
	})
}
