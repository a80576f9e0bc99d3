// Package mqttwire encodes and decodes the handful of MQTT 3.1.1 control
// packets a load generator needs: CONNECT, CONNACK, PUBLISH (QoS 0 and 1),
// PUBACK, PINGREQ, PINGRESP and DISCONNECT. It is deliberately small: a
// general client library spends more CPU per publish than the broker under
// test, which would make a benchmark measure itself.
package mqttwire

import (
	"errors"
	"fmt"
)

// Type is an MQTT control packet type (the high nibble of the first byte).
type Type byte

// Control packet types used by the load generator.
const (
	CONNECT    Type = 1
	CONNACK    Type = 2
	PUBLISH    Type = 3
	PUBACK     Type = 4
	PINGREQ    Type = 12
	PINGRESP   Type = 13
	DISCONNECT Type = 14
)

func (t Type) String() string {
	switch t {
	case CONNECT:
		return "CONNECT"
	case CONNACK:
		return "CONNACK"
	case PUBLISH:
		return "PUBLISH"
	case PUBACK:
		return "PUBACK"
	case PINGREQ:
		return "PINGREQ"
	case PINGRESP:
		return "PINGRESP"
	case DISCONNECT:
		return "DISCONNECT"
	}
	return fmt.Sprintf("type %d", byte(t))
}

// MaxRemainingLength is the largest body the four-byte variable length
// integer of MQTT 3.1.1 can describe.
const MaxRemainingLength = 268435455

// ErrTooLarge reports a packet whose body does not fit the remaining length.
var ErrTooLarge = errors.New("packet larger than MQTT allows (268435455 bytes)")

// Connect holds the CONNECT fields the load generator uses. An empty Username
// or Password leaves the field out of the packet.
type Connect struct {
	ClientID     string
	Username     string
	Password     string
	CleanSession bool
	KeepAlive    uint16 // seconds
}

// Connack is the broker's answer to CONNECT.
type Connack struct {
	SessionPresent bool
	ReturnCode     byte // 0 accepted; 1-5 refused, see ReturnCodeText
}

// Publish is one PUBLISH packet. PacketID is only on the wire for QoS 1.
type Publish struct {
	Topic    string
	Payload  []byte
	PacketID uint16
	QoS      byte
	Dup      bool
	Retain   bool
}

// ReturnCodeText says why a CONNECT was refused.
func ReturnCodeText(code byte) string {
	switch code {
	case 0:
		return "accepted"
	case 1:
		return "unacceptable protocol version"
	case 2:
		return "client identifier rejected"
	case 3:
		return "server unavailable"
	case 4:
		return "bad user name or password"
	case 5:
		return "not authorized"
	}
	return fmt.Sprintf("unknown return code %d", code)
}

// AppendRemainingLength appends n as an MQTT variable length integer.
func AppendRemainingLength(dst []byte, n int) ([]byte, error) {
	if n < 0 || n > MaxRemainingLength {
		return dst, fmt.Errorf("remaining length %d: %w", n, ErrTooLarge)
	}
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst, nil
		}
	}
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, byte(len(s)>>8), byte(len(s)))
	return append(dst, s...)
}

func header(dst []byte, t Type, flags byte, bodyLen int) ([]byte, error) {
	dst = append(dst, byte(t)<<4|flags&0x0f)
	return AppendRemainingLength(dst, bodyLen)
}

// AppendConnect appends a CONNECT packet for protocol level 4 (MQTT 3.1.1).
func AppendConnect(dst []byte, c Connect) ([]byte, error) {
	for _, f := range [...]struct{ name, s string }{{"client id", c.ClientID}, {"user name", c.Username}, {"password", c.Password}} {
		if len(f.s) > 0xffff {
			return dst, fmt.Errorf("connect: %s is %d bytes, at most 65535 fit", f.name, len(f.s))
		}
	}
	flags := byte(0)
	n := 10 + 2 + len(c.ClientID)
	if c.CleanSession {
		flags |= 0x02
	}
	if c.Username != "" {
		flags |= 0x80
		n += 2 + len(c.Username)
	}
	if c.Password != "" {
		flags |= 0x40
		n += 2 + len(c.Password)
	}
	dst, err := header(dst, CONNECT, 0, n)
	if err != nil {
		return dst, err
	}
	dst = appendString(dst, "MQTT")
	dst = append(dst, 4, flags, byte(c.KeepAlive>>8), byte(c.KeepAlive))
	dst = appendString(dst, c.ClientID)
	if c.Username != "" {
		dst = appendString(dst, c.Username)
	}
	if c.Password != "" {
		dst = appendString(dst, c.Password)
	}
	return dst, nil
}

// AppendConnack appends a CONNACK packet (used by test brokers).
func AppendConnack(dst []byte, c Connack) []byte {
	sp := byte(0)
	if c.SessionPresent {
		sp = 1
	}
	return append(dst, byte(CONNACK)<<4, 2, sp, c.ReturnCode)
}

// AppendPublish appends a PUBLISH packet. QoS 2 is not supported.
func AppendPublish(dst []byte, p Publish) ([]byte, error) {
	if p.QoS > 1 {
		return dst, fmt.Errorf("publish %q: QoS %d not supported (0 or 1)", p.Topic, p.QoS)
	}
	if len(p.Topic) == 0 || len(p.Topic) > 0xffff {
		return dst, fmt.Errorf("publish: topic is %d bytes, want 1 to 65535", len(p.Topic))
	}
	if p.QoS == 1 && p.PacketID == 0 {
		return dst, fmt.Errorf("publish %q: QoS 1 needs a non-zero packet id", p.Topic)
	}
	flags := p.QoS << 1
	if p.Dup {
		flags |= 0x08
	}
	if p.Retain {
		flags |= 0x01
	}
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	dst, err := header(dst, PUBLISH, flags, n)
	if err != nil {
		return dst, fmt.Errorf("publish %q: %w", p.Topic, err)
	}
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = append(dst, byte(p.PacketID>>8), byte(p.PacketID))
	}
	return append(dst, p.Payload...), nil
}

// AppendPuback appends a PUBACK for packet id.
func AppendPuback(dst []byte, id uint16) []byte {
	return append(dst, byte(PUBACK)<<4, 2, byte(id>>8), byte(id))
}

// AppendPingreq appends a PINGREQ.
func AppendPingreq(dst []byte) []byte { return append(dst, byte(PINGREQ)<<4, 0) }

// AppendPingresp appends a PINGRESP (used by test brokers).
func AppendPingresp(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }

// AppendDisconnect appends a DISCONNECT.
func AppendDisconnect(dst []byte) []byte { return append(dst, byte(DISCONNECT)<<4, 0) }
