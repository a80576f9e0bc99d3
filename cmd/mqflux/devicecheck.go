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
		Logs        struct {
			Topic   string `yaml:"topic"`
			Journal struct {
				Enabled bool `yaml:"enabled"`
			} `yaml:"journal"`
			Files []any `yaml:"files"`
		} `yaml:"logs"`
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
	if err := checkAgentLogs(d.ID, d.Logs.Topic, d.Logs.Journal.Enabled || len(d.Logs.Files) > 0, m, now); err != nil {
		problems = append(problems, fmt.Errorf("%s: device.logs.topic: %w", path, err))
	}
	return errors.Join(problems...)
}

// sampleLogBatch is a batch of one line as the agent publishes it.
const sampleLogBatch = `[{"message": "check-config", "pid": 1, "tags": {"unit": "ssh.service", "level": "info"}, "time": "2026-12-06T12:00:00Z"}]`

// checkAgentLogs reports whether the log lines an agent that forwards
// them publishes are mapped to the logs measurement.
func checkAgentLogs(id, template string, forwards bool, m *mapping.Mapper, now time.Time) error {
	if !forwards {
		return nil
	}
	if template == "" {
		template = topic.DefaultLogs
	}
	name, err := build(template, id, "")
	if err == nil {
		var line []byte
		line, err = m.Append(nil, name, []byte(sampleLogBatch), now)
		if err == nil && !bytes.HasPrefix(line, []byte(mapping.LogsMeasurement+",")) {
			err = fmt.Errorf("it is mapped as measurement %q, not as log lines", line[:bytes.IndexAny(line, ", ")])
		}
	}
	if err != nil {
		return fmt.Errorf("%q: the agent's log lines (%s) are not taken by mapping.logs_template: %w", template, name, err)
	}
	return nil
}

func build(template, device, measurement string) (string, error) {
	t, err := topic.Parse(template)
	if err != nil {
		return "", err
	}
	return t.Build(device, measurement)
}
