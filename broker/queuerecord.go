package broker

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
)

// appendRecord appends the stored record of a queued message: the JSON
// that the pebble hook reads back (storage.Message.UnmarshalBinary) and
// would decode from encoding/json's encoding of message(key, client, q).
// encoding/json cost 5-10 microseconds per message, and every message
// queued for an offline session is encoded: with three sessions of
// devices/#, three records per reading while their queues fill, on the
// same cores as the devices' publishes. ok is false for what the short
// encoding does not cover (MQTT 5 properties other than the payload
// format and the expiry, text that is not valid UTF-8): the caller
// encodes that message with encoding/json.
func appendRecord(dst []byte, key, client string, q *queued) (out []byte, ok bool) {
	pk := &q.pk
	p := &pk.Properties
	if len(p.CorrelationData) > 0 || len(p.SubscriptionIdentifier) > 0 || len(p.User) > 0 ||
		p.ContentType != "" || p.ResponseTopic != "" {
		return dst, false
	}
	for _, s := range [...]string{key, client, pk.Origin, pk.TopicName} {
		if !utf8.ValidString(s) {
			return dst, false
		}
	}
	// Zero values are left out where encoding/json leaves them out or
	// where decoding the absent field gives the same zero.
	dst = append(dst, '{')
	// message() leaves the topic alias out (Properties.Copy(false)).
	if p.PayloadFormat != 0 || p.MessageExpiryInterval != 0 {
		dst = append(dst, `"properties":{`...)
		sep := byte(0)
		for _, f := range [...]struct {
			name string
			v    uint64
		}{{"payloadFormat", uint64(p.PayloadFormat)}, {"messageExpiry", uint64(p.MessageExpiryInterval)}} {
			if f.v == 0 {
				continue
			}
			if sep != 0 {
				dst = append(dst, sep)
			}
			sep = ','
			dst = append(dst, '"')
			dst = append(dst, f.name...)
			dst = append(dst, `":`...)
			dst = strconv.AppendUint(dst, f.v, 10)
		}
		dst = append(dst, `},`...)
	}
	dst = append(dst, `"payload":`...)
	if pk.Payload == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, pk.Payload)
		dst = append(dst, '"')
	}
	dst = appendField(dst, "t", storage.InflightKey)
	dst = appendField(dst, "id", key)
	dst = appendField(dst, "client", client)
	dst = appendField(dst, "origin", pk.Origin)
	dst = appendField(dst, "topic_name", pk.TopicName)
	fh := &pk.FixedHeader
	dst = append(dst, `,"fixedheader":{"remaining":`...)
	dst = strconv.AppendInt(dst, int64(fh.Remaining), 10)
	dst = append(dst, `,"type":`...)
	dst = strconv.AppendUint(dst, uint64(fh.Type), 10)
	dst = append(dst, `,"qos":`...)
	dst = strconv.AppendUint(dst, uint64(fh.Qos), 10)
	dst = append(dst, `,"dup":`...)
	dst = strconv.AppendBool(dst, fh.Dup)
	dst = append(dst, `,"retain":`...)
	dst = strconv.AppendBool(dst, fh.Retain)
	dst = append(dst, `},"created":`...)
	dst = strconv.AppendInt(dst, pk.Created, 10)
	dst = append(dst, `,"sent":`...)
	dst = strconv.AppendInt(dst, q.seq, 10)
	dst = append(dst, `,"packet_id":`...)
	dst = strconv.AppendUint(dst, uint64(pk.PacketID), 10)
	return append(dst, '}'), true
}

// appendField appends ,"name":"value", value escaped as JSON (valid
// UTF-8, checked by the caller); an empty value is left out.
func appendField(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	dst = append(dst, `":"`...)
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, value[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, value[start:]...)
	return append(dst, '"')
}
