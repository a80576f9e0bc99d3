package device

import (
	"fmt"

	"github.com/mqflux/mqflux/topic"
)

// topics are where the agent publishes, from device.topic and
// device.status_topic: templates of the server's layout, with {device}
// filled by device.id.
type topics struct {
	id       string
	readings topic.Template
	status   string
	logs     string
}

// topics parses the two templates and builds the status topic. A problem
// names the key at fault.
func (c *Config) topics() (topics, error) {
	r, err := topic.Parse(c.Topic)
	if err != nil {
		return topics{}, fmt.Errorf("device.topic: %q: %w", c.Topic, err)
	}
	if !r.CanBuild() || !r.Has(topic.Measurement) {
		return topics{}, fmt.Errorf("device.topic: %q must be built from {device} and {measurement} alone: "+
			"literal levels, {device} and {measurement}, no other capture, + or #", c.Topic)
	}
	s, err := topic.Parse(c.StatusTopic)
	if err != nil {
		return topics{}, fmt.Errorf("device.status_topic: %q: %w", c.StatusTopic, err)
	}
	if !s.CanBuild() || s.Has(topic.Measurement) {
		return topics{}, fmt.Errorf("device.status_topic: %q must be built from {device} alone: literal levels and {device}", c.StatusTopic)
	}
	status, err := s.Build(c.ID, "")
	if err != nil {
		return topics{}, fmt.Errorf("device.status_topic: %w", err)
	}
	l, err := topic.Parse(c.Logs.Topic)
	if err != nil {
		return topics{}, fmt.Errorf("device.logs.topic: %q: %w", c.Logs.Topic, err)
	}
	if !l.CanBuild() || l.Has(topic.Measurement) {
		return topics{}, fmt.Errorf("device.logs.topic: %q must be built from {device} alone: literal levels and {device}", c.Logs.Topic)
	}
	logs, err := l.Build(c.ID, "")
	if err != nil {
		return topics{}, fmt.Errorf("device.logs.topic: %w", err)
	}
	return topics{id: c.ID, readings: r, status: status, logs: logs}, nil
}

// reading is the topic of a reading of measurement.
func (t topics) reading(measurement string) (string, error) {
	return t.readings.Build(t.id, measurement)
}
