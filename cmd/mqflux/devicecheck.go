package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/topic"
)

// agentTopics is what `check-config -device` reads of a device agent's
// configuration: its id and topic templates. The other keys are the
// agent's to check (mqflux-device check-config).
type agentTopics struct {
	Device struct {
		ID          string `yaml:"id"`
		Topic       string `yaml:"topic"`
		StatusTopic string `yaml:"status_topic"`
	} `yaml:"device"`
}

// sampleMeasurement stands for the measurements of the agent's sensors.
const sampleMeasurement = "temperature"

// checkAgent reports whether the readings and presence the agent
// configured at path publishes are mapped by m as readings and presence:
// otherwise the broker would refuse them or they would never be stored.
func checkAgent(path string, m *mapping.Mapper) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("device config: %w", err)
	}
	var a agentTopics
	if err := yaml.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("device config %s: %w", path, err)
	}
	d := a.Device
	if d.ID == "" {
		return fmt.Errorf("%s: device.id: required", path)
	}
	if d.Topic == "" {
		d.Topic = topic.DefaultReadings
	}
	if d.StatusTopic == "" {
		d.StatusTopic = topic.DefaultStatus
	}
	now := time.Now()
	reading, err := build(d.Topic, d.ID, sampleMeasurement)
	if err == nil {
		_, err = m.Append(nil, reading, []byte("1"), now)
	}
	var problems []error
	if err != nil {
		problems = append(problems, fmt.Errorf("%s: device.topic: %q: the agent's readings (e.g. %s) match no template of mapping.topics: %w", path, d.Topic, reading, err))
	}
	status, err := build(d.StatusTopic, d.ID, "")
	if err == nil {
		var line []byte
		line, err = m.Append(nil, status, []byte("online"), now)
		if err == nil && !bytes.HasPrefix(line, []byte(mapping.StatusMeasurement+",")) {
			err = fmt.Errorf("it is mapped as a reading, not as presence")
		}
	}
	if err != nil {
		problems = append(problems, fmt.Errorf("%s: device.status_topic: %q: the agent's presence (%s) does not match mapping.status_template: %w", path, d.StatusTopic, status, err))
	}
	return errors.Join(problems...)
}

func build(template, device, measurement string) (string, error) {
	t, err := topic.Parse(template)
	if err != nil {
		return "", err
	}
	return t.Build(device, measurement)
}
