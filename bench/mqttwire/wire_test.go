package mqttwire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestRemainingLength(t *testing.T) {
	tests := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{16383, []byte{0xff, 0x7f}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{2097151, []byte{0xff, 0xff, 0x7f}},
		{2097152, []byte{0x80, 0x80, 0x80, 0x01}},
		{MaxRemainingLength, []byte{0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tt := range tests {
		got, err := AppendRemainingLength(nil, tt.n)
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("AppendRemainingLength(%d) = %x, %v; want %x", tt.n, got, err, tt.want)
			continue
		}
		n, size, err := DecodeRemainingLength(got)
		if err != nil || n != tt.n || size != len(tt.want) {
			t.Errorf("DecodeRemainingLength(%x) = %d, %d, %v; want %d, %d", got, n, size, err, tt.n, len(tt.want))
		}
	}
	for _, n := range []int{-1, MaxRemainingLength + 1} {
		if _, err := AppendRemainingLength(nil, n); !errors.Is(err, ErrTooLarge) {
			t.Errorf("AppendRemainingLength(%d) error = %v, want ErrTooLarge", n, err)
		}
	}
}

func TestDecodeRemainingLengthBad(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"five bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x01}, "more than 4 bytes"},
		{"truncated", []byte{0x80, 0x80}, "after 2 bytes"},
		{"empty", nil, "after 0 bytes"},
	}
	for _, tt := range tests {
		if _, _, err := DecodeRemainingLength(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

// TestPublishRoundTrip covers bodies whose remaining length sits on each
// boundary of the variable length integer.
func TestPublishRoundTrip(t *testing.T) {
	const topic = "devices/d1/sensors/t" // 20 bytes; with length prefix and id: 24
	tests := []struct {
		name    string
		qos     byte
		bodyLen int
		dup     bool
	}{
		{"qos0 empty payload", 0, 22, false},
		{"qos1 body 127", 1, 127, false},
		{"qos1 body 128", 1, 128, true},
		{"qos1 body 16383", 1, 16383, false},
		{"qos1 body 16384", 1, 16384, true},
		{"qos0 body 2097152", 0, 2097152, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			overhead := 2 + len(topic)
			if tt.qos == 1 {
				overhead += 2
			}
			in := Publish{Topic: topic, QoS: tt.qos, Dup: tt.dup, Payload: bytes.Repeat([]byte{'x'}, tt.bodyLen-overhead)}
			if tt.qos == 1 {
				in.PacketID = 0xbeef
			}
			wire, err := AppendPublish(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			n, size, err := DecodeRemainingLength(wire[1:])
			if err != nil || n != tt.bodyLen || len(wire) != 1+size+tt.bodyLen {
				t.Fatalf("remaining length = %d (%d bytes), %v; want %d", n, size, err, tt.bodyLen)
			}
			p, err := NewReader(bytes.NewReader(wire), 0).Next()
			if err != nil {
				t.Fatal(err)
			}
			out, err := DecodePublish(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Errorf("round trip: got topic %q id %d qos %d dup %v payload %d bytes; want %q %d %d %v %d",
					out.Topic, out.PacketID, out.QoS, out.Dup, len(out.Payload), in.Topic, in.PacketID, in.QoS, in.Dup, len(in.Payload))
			}
		})
	}
}

func TestControlPacketsRoundTrip(t *testing.T) {
	conn := Connect{ClientID: "bench-1", Username: "demo-gateway", Password: "pw", CleanSession: true, KeepAlive: 60}
	var stream []byte
	stream, err := AppendConnect(stream, conn)
	if err != nil {
		t.Fatal(err)
	}
	stream, err = AppendConnect(stream, Connect{ClientID: "anon"})
	if err != nil {
		t.Fatal(err)
	}
	stream = AppendConnack(stream, Connack{SessionPresent: true, ReturnCode: 5})
	stream = AppendPuback(stream, 65535)
	stream = AppendPingreq(stream)
	stream = AppendPingresp(stream)
	stream = AppendDisconnect(stream)

	r := NewReader(bytes.NewReader(stream), 1024)
	next := func(want Type) Packet {
		t.Helper()
		p, err := r.Next()
		if err != nil {
			t.Fatalf("reading %s: %v", want, err)
		}
		if p.Type != want {
			t.Fatalf("got %s, want %s", p.Type, want)
		}
		return p
	}
	if got, err := DecodeConnect(next(CONNECT)); err != nil || got != conn {
		t.Errorf("CONNECT = %+v, %v; want %+v", got, err, conn)
	}
	if got, err := DecodeConnect(next(CONNECT)); err != nil || got != (Connect{ClientID: "anon"}) {
		t.Errorf("anonymous CONNECT = %+v, %v", got, err)
	}
	if got, err := DecodeConnack(next(CONNACK)); err != nil || got != (Connack{SessionPresent: true, ReturnCode: 5}) {
		t.Errorf("CONNACK = %+v, %v", got, err)
	}
	if got, err := DecodePuback(next(PUBACK)); err != nil || got != 65535 {
		t.Errorf("PUBACK = %d, %v", got, err)
	}
	for _, typ := range []Type{PINGREQ, PINGRESP, DISCONNECT} {
		if p := next(typ); len(p.Body) != 0 {
			t.Errorf("%s body = %x, want empty", typ, p.Body)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last packet: %v, want io.EOF", err)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		stream []byte
		decode func(Packet) error
		want   string
	}{
		{"truncated body", []byte{0x40, 0x02, 0x00}, nil, "unexpected EOF"},
		{"too large for the reader", []byte{0x30, 0x81, 0x08}, nil, "exceeds the limit of 1024"},
		{"puback of 3 bytes", []byte{0x40, 0x03, 0, 1, 2}, func(p Packet) error { _, err := DecodePuback(p); return err }, "3 bytes, want 2"},
		{"connack as puback", []byte{0x20, 0x02, 0, 0}, func(p Packet) error { _, err := DecodePuback(p); return err }, "got CONNACK, want PUBACK"},
		{"publish topic overruns", []byte{0x30, 0x03, 0x00, 0x09, 'a'}, func(p Packet) error { _, err := DecodePublish(p); return err }, "9 bytes announced, 1 present"},
		{"publish qos2", []byte{0x34, 0x05, 0x00, 0x01, 'a', 0, 1}, func(p Packet) error { _, err := DecodePublish(p); return err }, "QoS 2 not supported"},
		{"publish qos1 without id", []byte{0x32, 0x03, 0x00, 0x01, 'a'}, func(p Packet) error { _, err := DecodePublish(p); return err }, "packet id"},
		{"connect v3.1", append([]byte{0x10, 0x0c, 0, 6}, "MQIsdp\x03\x02\x00\x3c"...), func(p Packet) error { _, err := DecodeConnect(p); return err }, "not MQTT 3.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewReader(bytes.NewReader(tt.stream), 1024).Next()
			if err == nil && tt.decode != nil {
				err = tt.decode(p)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestAppendPublishRefuses(t *testing.T) {
	tests := []struct {
		name string
		p    Publish
		want string
	}{
		{"qos2", Publish{Topic: "a", QoS: 2}, "QoS 2"},
		{"empty topic", Publish{QoS: 0}, "topic is 0 bytes"},
		{"qos1 id 0", Publish{Topic: "a", QoS: 1}, "non-zero packet id"},
	}
	for _, tt := range tests {
		if _, err := AppendPublish(nil, tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	p := Publish{Topic: "devices/bench-42/sensors/bench_0123abcd", QoS: 1, PacketID: 7,
		Payload: []byte(`{"value":123456,"time":"2026-11-23T18:00:00.123456789Z"}`)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendPublish(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkReadPuback(b *testing.B) {
	stream := bytes.Repeat(AppendPuback(nil, 9), 4096)
	br := bytes.NewReader(stream)
	r := NewReader(br, 0)
	b.ReportAllocs()
	for b.Loop() {
		p, err := r.Next()
		if err == io.EOF {
			br.Reset(stream)
			r = NewReader(br, 0)
			continue
		}
		if _, err := DecodePuback(p); err != nil {
			b.Fatal(err)
		}
	}
}
