package natsinput

import (
	"errors"
	"strings"
)

// The MQTT gateway of nats-server turns an MQTT topic into a NATS subject
// and back by these rules, which the functions below follow byte for byte
// (nats-server's mqttToNATSSubjectConversion and natsSubjectToMQTTTopic):
//
//   - a level separator '/' becomes '.';
//   - a '/' first in the topic, or right after a '.' of the result, becomes
//     "/." (an empty level);
//   - a '/' last in the topic, or followed by another '/', becomes "./";
//   - a '.' of the topic becomes "//";
//   - white space and DEL are refused.
//
// So devices/pi-1/sensors/temperature is devices.pi-1.sensors.temperature,
// and devices/pi.1/sensors/t is devices.pi//1.sensors.t.

// errUnsupported is what nats-server answers a topic it cannot carry with.
var errUnsupported = errors.New("white space or DEL in an MQTT topic: nats-server cannot carry it")

// TopicToSubject converts an MQTT topic name (no wildcards) to the NATS
// subject nats-server publishes it on.
func TopicToSubject(topic string) (string, error) {
	var b strings.Builder
	b.Grow(len(topic) + 4)
	for i := 0; i < len(topic); i++ {
		switch c := topic[i]; c {
		case '/':
			out := b.String()
			switch {
			case i == 0 || out[len(out)-1] == '.':
				b.WriteString("/.")
			case i == len(topic)-1 || topic[i+1] == '/':
				b.WriteString("./")
			default:
				b.WriteByte('.')
			}
		case '.':
			b.WriteString("//")
		case ' ', '\t', '\n', '\r', '\f', 0x7f:
			return "", errUnsupported
		case '+', '#':
			return "", errors.New("wildcards are not allowed in a topic name")
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if out != topic && strings.HasSuffix(out, ".") {
		out += "/"
	}
	return out, nil
}

// SubjectToTopic converts a NATS subject back to the MQTT topic it carries.
func SubjectToTopic(subject string) string {
	b := make([]byte, 0, len(subject))
	for i := 0; i < len(subject); i++ {
		switch c := subject[i]; c {
		case '/':
			if i < len(subject)-1 {
				switch subject[i+1] {
				case '.':
					b = append(b, '/')
					i++
				case '/':
					b = append(b, '.')
					i++
				}
			}
		case '.':
			b = append(b, '/')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
