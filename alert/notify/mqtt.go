package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mqflux/mqflux/internal/configfile"
)

// KindMQTT is the kind that publishes through the embedded broker.
const KindMQTT = "mqtt"

func init() {
	Register(KindMQTT, Kind[*MQTTConfig]{
		Default: func() *MQTTConfig { return &MQTTConfig{} },
		New: func(b Base, c *MQTTConfig, env Env) (Notifier, error) {
			if env.Publisher == nil {
				return nil, errors.New("no broker to publish through")
			}
			return &MQTT{Base: b, prefix: c.TopicPrefix, pub: env.Publisher}, nil
		},
	})
}

// MQTTConfig is the mqtt notifier's key: it publishes on
// {topic_prefix}/{device}/{rule}.
type MQTTConfig struct {
	TopicPrefix string `yaml:"topic_prefix"`
}

// Validate checks the prefix is a plain topic prefix.
func (c *MQTTConfig) Validate(v *configfile.Validator) {
	p := c.TopicPrefix
	if p == "" || strings.ContainsAny(p, "+#") || strings.HasPrefix(p, "$") || strings.HasSuffix(p, "/") {
		v.Add("topic_prefix", "%q: want a topic prefix without wildcards, a leading $ or a trailing /, e.g. alerts", p)
	}
}

// TopicPrefixes is where the notifier publishes: readers may subscribe
// below it (mosquitto_sub -t 'alerts/#').
func (c *MQTTConfig) TopicPrefixes() []string { return []string{c.TopicPrefix} }

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
