package notify

import (
	"context"
	"encoding/json"
	"fmt"
)

// MQTT publishes a retained message on {topic_prefix}/{device}/{rule}
// through the embedded broker: the Notification as JSON while the alert
// fires, an empty retained payload (which clears the topic) once it is
// resolved. mosquitto_sub -t 'alerts/#' shows what fires now.
//
//   - {kind: mqtt, topic_prefix: alerts}
type MQTT struct {
	Base
	prefix string
	pub    Publisher
}

// Send publishes n, retained, at QoS 1.
func (m *MQTT) Send(_ context.Context, n *Notification) error {
	var payload []byte
	if n.State == Firing {
		b, err := json.Marshal(n)
		if err != nil {
			return &Error{Permanent: true, Detail: fmt.Sprintf("encode: %v", err)}
		}
		payload = b
	}
	if err := m.pub.Publish(m.Topic(n), payload, true, 1); err != nil {
		return fmt.Errorf("publish %s: %w", m.Topic(n), err)
	}
	return nil
}

// Topic is where n goes.
func (m *MQTT) Topic(n *Notification) string {
	return m.prefix + "/" + n.Device + "/" + n.Rule
}
