package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/testenv"
)

// protoConnect is a CONNECT with what rawConnect leaves fixed: the
// keep-alive and, for MQTT 5, the properties.
type protoConnect struct {
	version            byte // 4 or 5
	clientID           string
	login              testenv.Login
	keepalive          uint16
	props              []byte // MQTT 5 CONNECT properties, encoded (prop)
	willTopic, willMsg string
}

// prop encodes one MQTT 5 property: its identifier and value bytes.
func prop(id byte, value ...byte) []byte { return append([]byte{id}, value...) }

// u16 is a two-byte integer of a property or a field.
func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func (pc protoConnect) body() []byte {
	flags := byte(0x80 | 0x40 | 0x02) // user name, password, clean
	if pc.willTopic != "" {
		flags |= 0x04 | 0x08 // will, QoS 1
	}
	var body []byte
	body = appendStr(body, "MQTT")
	body = append(body, pc.version, flags)
	body = append(body, u16(pc.keepalive)...)
	if pc.version == 5 {
		body = append(body, byte(len(pc.props)))
		body = append(body, pc.props...)
	}
	body = appendStr(body, pc.clientID)
	if pc.willTopic != "" {
		if pc.version == 5 {
			body = append(body, 0)
		}
		body = appendStr(body, pc.willTopic)
		body = appendStr(body, pc.willMsg)
	}
	body = appendStr(body, pc.login.User)
	return appendStr(body, pc.login.Password)
}

// dial sends the CONNECT and returns the CONNACK (whatever its code) and
// the client.
func (pc protoConnect) dial(t *testing.T, addr string) (connack, *rawClient) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{version: pc.version, conn: conn, r: mqttwire.NewReader(conn, 1<<20)}
	c.write(t, mqttwire.CONNECT, 0, pc.body())
	p := c.next(t, 30*time.Second)
	if p.Type != mqttwire.CONNACK || len(p.Body) < 2 {
		t.Fatalf("MQTT %d CONNECT: answer %s % x, want a CONNACK", pc.version, p.Type, p.Body)
	}
	ack := connack{code: p.Body[1]}
	if pc.version == 5 && len(p.Body) > 2 {
		ack.props = decodeProps(t, p.Body[2:])
	}
	return ack, c
}

// connack is a CONNACK's reason (or 3.1.1 return) code and its MQTT 5
// properties by identifier.
type connack struct {
	code  byte
	props map[byte][]byte
}

// decodeProps reads MQTT 5 properties (length first) into their value
// bytes by identifier; a user property keeps only the last one.
func decodeProps(t *testing.T, b []byte) map[byte][]byte {
	t.Helper()
	n, size, err := mqttwire.DecodeRemainingLength(b)
	if err != nil || size+n > len(b) {
		t.Fatalf("properties % x: length %d, %v", b, n, err)
	}
	b = b[size : size+n]
	out := map[byte][]byte{}
	str := func(b []byte) int { return 2 + int(binary.BigEndian.Uint16(b)) }
	for len(b) > 0 {
		id, l := b[0], 0
		switch id {
		case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A: // bytes
			l = 1
		case 0x13, 0x21, 0x22, 0x23: // two-byte integers
			l = 2
		case 0x02, 0x11, 0x18, 0x27: // four-byte integers
			l = 4
		case 0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F: // strings, binary data
			l = str(b[1:])
		case 0x26: // user property: two strings
			l = str(b[1:])
			l += str(b[1+l:])
		case 0x0B: // subscription identifier: a variable byte integer
			_, l, _ = mqttwire.DecodeRemainingLength(b[1:])
		default:
			t.Fatalf("property %#x unknown in % x", id, b)
		}
		out[id] = b[1 : 1+l]
		b = b[1+l:]
	}
	return out
}

// Point 3: the server bounds the keep-alive. With broker.max_keepalive 2s a
// client asking for none, or for a longer one, is told 2 s (MQTT 5 Server
// Keep Alive) and, silent, is disconnected after 1.5 times that, its will
// sent; a 3.1.1 client, which cannot be told, is disconnected the same way.
// A client asking for less keeps its own.
func TestServerKeepAlive(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_BROKER_MAX_KEEPALIVE=2s"}})
	willTopic := "devices/" + testenv.DemoDevice.User + "/cmd/keepalive-will"
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, willTopic+"/#", "-V", "mqttv5")
	srv.WaitLog(t, "subscribed", "filter="+willTopic+"/#")

	tests := []struct {
		name      string
		version   byte
		keepalive uint16
		want      uint16 // the CONNACK's Server Keep Alive; 0 none
	}{
		{"MQTT 5 without keep-alive", 5, 0, 2},
		{"MQTT 5 asking for more", 5, 600, 2},
		{"MQTT 5 asking for less", 5, 1, 0},
		{"MQTT 3.1.1 without keep-alive", 4, 0, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("%s/%d", willTopic, i)
			ack, c := protoConnect{version: tt.version, clientID: fmt.Sprintf("keepalive-%d", i), login: testenv.DemoDevice,
				keepalive: tt.keepalive, willTopic: topic, willMsg: "gone"}.dial(t, srv.MQTT)
			if ack.code != 0 {
				t.Fatalf("CONNACK code %#x, want 0", ack.code)
			}
			var got uint16
			if v, ok := ack.props[0x13]; ok {
				got = binary.BigEndian.Uint16(v)
			}
			if got != tt.want {
				t.Fatalf("CONNACK Server Keep Alive %d, want %d (0: none)", got, tt.want)
			}
			start := time.Now()
			if !c.closed(30 * time.Second) {
				t.Fatalf("a silent client with keep-alive %d is still connected after 30 s", tt.keepalive)
			}
			t.Logf("closed after %s of silence", time.Since(start).Round(100*time.Millisecond))
			waitFor(t, 10*time.Second, "the will of the silent client", func() bool {
				return strings.Contains(strings.Join(sub.Lines(), "\n"), topic+" gone")
			})
		})
	}
}

// publishProps sends a QoS 1 PUBLISH with MQTT 5 properties and returns
// the broker's answer: a PUBACK, a DISCONNECT, or an error (the connection
// closed, or nothing in time).
func (c *rawClient) publishProps(id uint16, topic string, props, payload []byte) (mqttwire.Packet, error) {
	var body []byte
	body = appendStr(body, topic)
	body = append(body, u16(id)...)
	body = append(body, byte(len(props)))
	body = append(body, props...)
	body = append(body, payload...)
	if err := c.send(mqttwire.PUBLISH, 0x02, body); err != nil {
		return mqttwire.Packet{}, err
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c.r.Next()
}

// reason is the reason code of a PUBACK or DISCONNECT (0 when left out).
func reason(p mqttwire.Packet) byte {
	switch {
	case p.Type == mqttwire.PUBACK && len(p.Body) > 2:
		return p.Body[2]
	case p.Type == mqttwire.DISCONNECT && len(p.Body) > 0:
		return p.Body[0]
	}
	return 0
}

// Point 7: MQTT 5 as strict clients and the specification want it. A
// PUBACK does not echo the publish's user properties; the CONNACK tells
// the Topic Alias Maximum, an alias above it is answered with DISCONNECT
// 0x94, one never set with DISCONNECT 0x82; a publish by alias alone is
// stored like one with the full topic; a CONNECT with Receive Maximum 0 is
// answered with CONNACK 0x82; each refusal closes the connection.
func TestMQTT5Strictness(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	dev := testenv.DemoDevice
	measurement := measurementFor(t)
	topic := "devices/" + dev.User + "/sensors/" + measurement
	userProp := append(append([]byte{0x26}, appendStr(nil, "trace")...), appendStr(nil, "abc")...)
	alias := func(n uint16) []byte { return prop(0x23, u16(n)...) }
	connect := func(t *testing.T, id string) *rawClient {
		ack, c := protoConnect{version: 5, clientID: id, login: dev, keepalive: 60}.dial(t, srv.MQTT)
		if ack.code != 0 {
			t.Fatalf("CONNACK %#x, want 0", ack.code)
		}
		return c
	}

	t.Run("CONNACK tells the Topic Alias Maximum", func(t *testing.T) {
		ack, _ := protoConnect{version: 5, clientID: "strict-connack", login: dev, keepalive: 60}.dial(t, srv.MQTT)
		if v := ack.props[0x22]; len(v) != 2 || binary.BigEndian.Uint16(v) == 0 {
			t.Fatalf("CONNACK properties %v: Topic Alias Maximum % x, want one above 0", ack.props, v)
		}
	})
	t.Run("PUBACK without the publish's user properties", func(t *testing.T) {
		c := connect(t, "strict-puback")
		p, err := c.publishProps(1, topic, userProp, []byte(`{"value":1}`))
		if err != nil || p.Type != mqttwire.PUBACK || reason(p) != 0 {
			t.Fatalf("answer %s % x, %v; want a PUBACK 0", p.Type, p.Body, err)
		}
		if len(p.Body) > 3 && p.Body[3] != 0 {
			t.Fatalf("PUBACK % x carries properties; want none", p.Body)
		}
	})
	t.Run("publish by alias alone is stored", func(t *testing.T) {
		c := connect(t, "strict-alias")
		for i, pub := range []struct{ topic string }{{topic}, {""}, {""}} {
			p, err := c.publishProps(uint16(i+1), pub.topic, alias(1), []byte(`{"value":2}`))
			if err != nil || p.Type != mqttwire.PUBACK || reason(p) != 0 {
				t.Fatalf("publish %d (topic %q, alias 1): answer %s % x, %v; want a PUBACK 0", i, pub.topic, p.Type, p.Body, err)
			}
		}
		waitStored(t, in, measurement, 4, 30*time.Second) // with the user properties' one
	})
	for _, tt := range []struct {
		name  string
		topic string
		alias uint16
		want  byte
	}{
		{"alias above the maximum", topic, 17, 0x94},
		{"alias never set", "", 2, 0x82},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := connect(t, "strict-"+strings.ReplaceAll(tt.name, " ", "-"))
			p, err := c.publishProps(1, tt.topic, alias(tt.alias), []byte(`{"value":3}`))
			if err != nil || p.Type != mqttwire.DISCONNECT || reason(p) != tt.want {
				t.Fatalf("answer %s % x, %v; want DISCONNECT %#x", p.Type, p.Body, err, tt.want)
			}
			if !c.closed(10 * time.Second) {
				t.Fatal("connection still open after the DISCONNECT")
			}
		})
	}
	t.Run("Receive Maximum 0", func(t *testing.T) {
		ack, c := protoConnect{version: 5, clientID: "strict-receive-max", login: dev, keepalive: 60,
			props: prop(0x21, 0, 0)}.dial(t, srv.MQTT)
		if ack.code != 0x82 {
			t.Fatalf("CONNACK %#x, want 0x82 protocol error", ack.code)
		}
		if !c.closed(10 * time.Second) {
			t.Fatal("connection still open after the refusing CONNACK")
		}
	})
	if n := count(in, measurement); n != 4 {
		t.Fatalf("InfluxDB holds %d readings of %s, want 4", n, measurement)
	}
}
