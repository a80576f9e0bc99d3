package mqttwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Packet is one control packet as read from the wire: its type, the flag
// nibble of the first byte and the body after the remaining length.
type Packet struct {
	Type  Type
	Flags byte
	Body  []byte
}

// Reader reads packets from a stream. A Packet's Body aliases the Reader's
// buffer and is only valid until the next call to Next.
type Reader struct {
	r       *bufio.Reader
	buf     []byte
	maxBody int
	offset  int64 // bytes consumed so far, for error messages
}

// NewReader reads packets from r, refusing bodies larger than maxBody bytes
// (0 means MaxRemainingLength).
func NewReader(r io.Reader, maxBody int) *Reader {
	if maxBody <= 0 || maxBody > MaxRemainingLength {
		maxBody = MaxRemainingLength
	}
	return &Reader{r: bufio.NewReaderSize(r, 32<<10), maxBody: maxBody}
}

// Next reads the next packet. io.EOF means the stream ended cleanly between
// packets; a stream that ends inside a packet is io.ErrUnexpectedEOF.
func (r *Reader) Next() (Packet, error) {
	start := r.offset
	first, err := r.r.ReadByte()
	if err != nil {
		return Packet{}, err
	}
	r.offset++
	n, err := r.remainingLength()
	if err != nil {
		return Packet{}, fmt.Errorf("packet at byte %d: %w", start, err)
	}
	if n > r.maxBody {
		return Packet{}, fmt.Errorf("packet at byte %d: body of %d bytes exceeds the limit of %d", start, n, r.maxBody)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	body := r.buf[:n]
	if _, err := io.ReadFull(r.r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Packet{}, fmt.Errorf("packet at byte %d: body: %w", start, err)
	}
	r.offset += int64(n)
	return Packet{Type: Type(first >> 4), Flags: first & 0x0f, Body: body}, nil
}

func (r *Reader) remainingLength() (int, error) {
	n, shift := 0, 0
	for i := 0; i < 4; i++ {
		b, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("remaining length: %w", err)
		}
		r.offset++
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return n, nil
		}
		shift += 7
	}
	return 0, errors.New("remaining length: more than 4 bytes")
}

// DecodeRemainingLength decodes a variable length integer at the start of b
// and returns it with the number of bytes it took.
func DecodeRemainingLength(b []byte) (n, size int, err error) {
	shift := 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("remaining length: %w after %d bytes", io.ErrUnexpectedEOF, i)
		}
		n |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return n, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, errors.New("remaining length: more than 4 bytes")
}

func want(p Packet, t Type) error {
	if p.Type != t {
		return fmt.Errorf("got %s, want %s", p.Type, t)
	}
	return nil
}

// DecodeConnack parses a CONNACK body.
func DecodeConnack(p Packet) (Connack, error) {
	if err := want(p, CONNACK); err != nil {
		return Connack{}, err
	}
	if len(p.Body) != 2 {
		return Connack{}, fmt.Errorf("CONNACK body is %d bytes, want 2", len(p.Body))
	}
	return Connack{SessionPresent: p.Body[0]&1 == 1, ReturnCode: p.Body[1]}, nil
}

// DecodePuback parses a PUBACK body and returns its packet id.
func DecodePuback(p Packet) (uint16, error) {
	if err := want(p, PUBACK); err != nil {
		return 0, err
	}
	if len(p.Body) != 2 {
		return 0, fmt.Errorf("PUBACK body is %d bytes, want 2", len(p.Body))
	}
	return uint16(p.Body[0])<<8 | uint16(p.Body[1]), nil
}

// DecodePublish parses a PUBLISH. Payload aliases p.Body.
func DecodePublish(p Packet) (Publish, error) {
	if err := want(p, PUBLISH); err != nil {
		return Publish{}, err
	}
	out := Publish{QoS: p.Flags >> 1 & 3, Dup: p.Flags&0x08 != 0, Retain: p.Flags&1 != 0}
	if out.QoS > 1 {
		return Publish{}, fmt.Errorf("PUBLISH: QoS %d not supported", out.QoS)
	}
	topic, rest, err := readString(p.Body, "PUBLISH topic")
	if err != nil {
		return Publish{}, err
	}
	out.Topic = topic
	if out.QoS > 0 {
		if len(rest) < 2 {
			return Publish{}, fmt.Errorf("PUBLISH %q: packet id: %w", topic, io.ErrUnexpectedEOF)
		}
		out.PacketID = uint16(rest[0])<<8 | uint16(rest[1])
		rest = rest[2:]
	}
	out.Payload = rest
	return out, nil
}

// DecodeConnect parses a CONNECT (used by test brokers). Will flags are
// rejected: the load generator never sends a will.
func DecodeConnect(p Packet) (Connect, error) {
	if err := want(p, CONNECT); err != nil {
		return Connect{}, err
	}
	name, rest, err := readString(p.Body, "CONNECT protocol name")
	if err != nil {
		return Connect{}, err
	}
	if name != "MQTT" || len(rest) < 4 || rest[0] != 4 {
		return Connect{}, fmt.Errorf("CONNECT: protocol %q is not MQTT 3.1.1", name)
	}
	flags := rest[1]
	if flags&0x04 != 0 {
		return Connect{}, errors.New("CONNECT: will messages are not supported")
	}
	c := Connect{CleanSession: flags&0x02 != 0, KeepAlive: uint16(rest[2])<<8 | uint16(rest[3])}
	if c.ClientID, rest, err = readString(rest[4:], "CONNECT client id"); err != nil {
		return Connect{}, err
	}
	if flags&0x80 != 0 {
		if c.Username, rest, err = readString(rest, "CONNECT user name"); err != nil {
			return Connect{}, err
		}
	}
	if flags&0x40 != 0 {
		if c.Password, rest, err = readString(rest, "CONNECT password"); err != nil {
			return Connect{}, err
		}
	}
	if len(rest) != 0 {
		return Connect{}, fmt.Errorf("CONNECT: %d unexpected bytes after the payload", len(rest))
	}
	return c, nil
}

func readString(b []byte, what string) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, fmt.Errorf("%s: length: %w", what, io.ErrUnexpectedEOF)
	}
	n := int(b[0])<<8 | int(b[1])
	if len(b)-2 < n {
		return "", nil, fmt.Errorf("%s: %d bytes announced, %d present", what, n, len(b)-2)
	}
	return string(b[2 : 2+n]), b[2+n:], nil
}
