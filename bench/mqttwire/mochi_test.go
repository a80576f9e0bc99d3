package mqttwire

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The same work as BenchmarkAppendPublish and BenchmarkReadPuback done
// with the broker's own codec (mochi's packets), to weigh keeping this
// package against using that one; bench/README.md has the numbers.

func BenchmarkMochiPublishEncode(b *testing.B) {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: 1},
		ProtocolVersion: 4,
		TopicName:       "devices/bench-42/sensors/bench_0123abcd",
		PacketID:        7,
		Payload:         []byte(`{"value":123456,"time":"2026-11-23T18:00:00.123456789Z"}`),
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := pk.PublishEncode(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

func BenchmarkMochiReadPuback(b *testing.B) {
	stream := bytes.Repeat(AppendPuback(nil, 9), 4096)
	br := bytes.NewReader(stream)
	r := bufio.NewReaderSize(br, 32<<10)
	body := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		first, err := r.ReadByte()
		if err == io.EOF {
			br.Reset(stream)
			r.Reset(br)
			continue
		}
		pk := packets.Packet{ProtocolVersion: 4}
		if err := pk.FixedHeader.Decode(first); err != nil {
			b.Fatal(err)
		}
		n, _, err := packets.DecodeLength(r)
		if err != nil {
			b.Fatal(err)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			b.Fatal(err)
		}
		pk.FixedHeader.Remaining = n
		if err := pk.PubackDecode(body); err != nil || pk.PacketID != 9 {
			b.Fatal(pk.PacketID, err)
		}
	}
}
