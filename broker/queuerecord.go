package broker

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Records of queued messages. The pebble hook writes JSON
// (storage.Message); a reading queued for an offline session is written
// in a binary record instead, about a third of its size: every message
// queued for an offline session is encoded on the delivery's runner and
// goes through pebble's log and memtable, and with three sessions of
// devices/# filling their queues, 340 bytes of JSON per message were most
// of what the session store wrote and allocated (BENCHMARKS.md, "Subscribers
// that stop reading"). What the binary record does not cover (MQTT 5
// properties other than the payload format and the expiry) is written as
// JSON, and JSON records of earlier versions are read as before
// (decodeRecord). An earlier version reading a binary record skips it.
//
// The binary record, version 1:
//
//	0x01
//	flags: bit 0 DUP, bit 1 retain, bits 2-3 QoS, bit 4 payload nil,
//	       bit 5 payload format present, bit 6 message expiry present
//	uvarint remaining length, varint created, varint sent, uvarint packet id
//	[uvarint payload format] [uvarint message expiry]
//	client, origin, topic: each a uvarint length and its bytes
//	the payload: the rest
const recordV1 byte = 0x01

const (
	flagDup = 1 << iota
	flagRetain
	flagQosLow
	flagQosHigh
	flagNilPayload
	flagPayloadFormat
	flagExpiry
)

// appendRecord appends the binary record of a queued message; ok is false
// for a message it does not cover, which the caller writes as JSON.
func appendRecord(dst []byte, client string, q *queued) (out []byte, ok bool) {
	pk := &q.pk
	p := &pk.Properties
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos > 3 ||
		len(p.CorrelationData) > 0 || len(p.SubscriptionIdentifier) > 0 || len(p.User) > 0 ||
		p.ContentType != "" || p.ResponseTopic != "" {
		return dst, false
	}
	flags := pk.FixedHeader.Qos << 2
	if pk.FixedHeader.Dup {
		flags |= flagDup
	}
	if pk.FixedHeader.Retain {
		flags |= flagRetain
	}
	if pk.Payload == nil {
		flags |= flagNilPayload
	}
	if p.PayloadFormat != 0 {
		flags |= flagPayloadFormat
	}
	if p.MessageExpiryInterval != 0 {
		flags |= flagExpiry
	}
	dst = append(dst, recordV1, flags)
	dst = binary.AppendUvarint(dst, uint64(pk.FixedHeader.Remaining))
	dst = binary.AppendVarint(dst, pk.Created)
	dst = binary.AppendVarint(dst, q.seq)
	dst = binary.AppendUvarint(dst, uint64(pk.PacketID))
	if flags&flagPayloadFormat != 0 {
		dst = binary.AppendUvarint(dst, uint64(p.PayloadFormat))
	}
	if flags&flagExpiry != 0 {
		dst = binary.AppendUvarint(dst, uint64(p.MessageExpiryInterval))
	}
	for _, s := range [...]string{client, pk.Origin, pk.TopicName} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return append(dst, pk.Payload...), true
}

// recordLen is the most appendRecord appends for q.
func recordLen(client string, q *queued) int {
	return 2 + 6*binary.MaxVarintLen64 + 3*binary.MaxVarintLen64 +
		len(client) + len(q.pk.Origin) + len(q.pk.TopicName) + len(q.pk.Payload)
}

// decodeRecord decodes the record stored under key, binary or JSON. The
// message keeps no reference to rec.
func decodeRecord(key string, rec []byte) (storage.Message, error) {
	if len(rec) == 0 || rec[0] != recordV1 {
		var m storage.Message
		if err := m.UnmarshalBinary(rec); err != nil {
			return m, fmt.Errorf("record %s: %w", key, err)
		}
		return m, nil
	}
	d := recordReader{b: rec[1:]}
	flags := d.byte()
	m := storage.Message{ID: key, T: storage.InflightKey}
	m.FixedHeader = packets.FixedHeader{Type: packets.Publish, Qos: flags >> 2 & 3,
		Dup: flags&flagDup != 0, Retain: flags&flagRetain != 0, Remaining: int(d.uvarint())}
	m.Created = d.varint()
	m.Sent = d.varint()
	m.PacketID = uint16(d.uvarint())
	if flags&flagPayloadFormat != 0 {
		m.Properties.PayloadFormat = byte(d.uvarint())
	}
	if flags&flagExpiry != 0 {
		m.Properties.MessageExpiryInterval = uint32(d.uvarint())
	}
	m.Client, m.Origin, m.TopicName = d.str(), d.str(), d.str()
	if flags&flagNilPayload == 0 {
		m.Payload = append([]byte{}, d.b...)
	}
	if d.err != nil {
		return storage.Message{}, fmt.Errorf("record %s: %w", key, d.err)
	}
	return m, nil
}

var errShortRecord = errors.New("binary record cut short")

// recordReader reads a binary record; the first failure sticks.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) byte() byte {
	if len(r.b) == 0 {
		r.err = errShortRecord
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *recordReader) uvarint() uint64 { return readVarint(r, binary.Uvarint) }

func (r *recordReader) varint() int64 { return readVarint(r, binary.Varint) }

// readVarint reads one varint of r with decode (binary.Uvarint or
// binary.Varint).
func readVarint[T uint64 | int64](r *recordReader, decode func([]byte) (T, int)) T {
	v, n := decode(r.b)
	if n <= 0 {
		r.err, r.b = errShortRecord, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err, r.b = errShortRecord, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
