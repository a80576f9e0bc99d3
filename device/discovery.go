package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// announcement is one retained Home Assistant discovery message: a config,
// or an empty payload that removes one.
type announcement struct {
	topic   string
	payload []byte
}

// haDevice is the device block every config carries, so that Home
// Assistant groups the sensors of one Pi.
type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
}

// haSensor is the discovery config of one measurement, with the keys Home
// Assistant's MQTT sensor documents.
type haSensor struct {
	Name                string   `json:"name"`
	UniqueID            string   `json:"unique_id"`
	ObjectID            string   `json:"object_id"`
	StateTopic          string   `json:"state_topic"`
	ValueTemplate       string   `json:"value_template"`
	UnitOfMeasurement   string   `json:"unit_of_measurement,omitempty"`
	DeviceClass         string   `json:"device_class,omitempty"`
	StateClass          string   `json:"state_class"`
	AvailabilityTopic   string   `json:"availability_topic"`
	PayloadAvailable    string   `json:"payload_available"`
	PayloadNotAvailable string   `json:"payload_not_available"`
	Device              haDevice `json:"device"`
}

// unitOf gives the unit and device class of a measurement from the kind of
// sensor that publishes it; "" for what has neither (a sim sensor).
func unitOf(kind, measurement string) (unit, class string) {
	switch {
	case kind == "disk":
		return "%", ""
	case kind == "ds18b20" || kind == "cpu_temp" || strings.HasSuffix(measurement, "temperature") && kind != "sim":
		return "°C", "temperature"
	case kind != "sim" && strings.HasSuffix(measurement, "humidity"):
		return "%", "humidity"
	case kind != "sim" && strings.HasSuffix(measurement, "pressure"):
		return "hPa", "atmospheric_pressure"
	}
	return "", ""
}

// discoveryTopic is where the config of a measurement is retained.
func (c *Config) discoveryTopic(measurement string) string {
	return fmt.Sprintf("%s/sensor/%s/%s/config", c.HomeAssistant.Prefix, c.ID, measurement)
}

// discovery is the config of every measurement of every sensor, by topic
// order; none when discovery is off.
func (c *Config) discovery(tp topics) ([]announcement, error) {
	if !c.HomeAssistant.Discovery {
		return nil, nil
	}
	dev := haDevice{Identifiers: []string{"mqflux_" + c.ID}, Name: c.ID, Manufacturer: "mqflux", Model: "mqflux-device"}
	var out []announcement
	for i := range c.Sensors {
		s := &c.Sensors[i]
		for _, m := range s.Measurements() {
			state, err := tp.reading(m)
			if err != nil {
				return nil, fmt.Errorf("discovery of %s: %w", m, err)
			}
			unit, class := unitOf(s.Kind, m)
			body, err := json.Marshal(haSensor{
				Name: m, UniqueID: "mqflux_" + c.ID + "_" + m, ObjectID: c.ID + "_" + m,
				StateTopic: state, ValueTemplate: "{{ value_json.value }}",
				UnitOfMeasurement: unit, DeviceClass: class, StateClass: "measurement",
				AvailabilityTopic: tp.status, PayloadAvailable: "online", PayloadNotAvailable: "offline",
				Device: dev,
			})
			if err != nil {
				return nil, fmt.Errorf("discovery of %s: %w", m, err)
			}
			out = append(out, announcement{topic: c.discoveryTopic(m), payload: body})
		}
	}
	return out, nil
}

// announced is the file listing the discovery topics last announced, so
// that a sensor that left the configuration (or all of them, with
// discovery switched off) has its config removed.
func (c *Config) announcedPath() string {
	return strings.TrimRight(c.Queue.Dir, "/") + ".home-assistant.json"
}

func readAnnounced(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read announced discovery topics: %w", err)
	}
	var topics []string
	if err := json.Unmarshal(data, &topics); err != nil {
		return nil, fmt.Errorf("read announced discovery topics %s: %w", path, err)
	}
	return topics, nil
}

func writeAnnounced(path string, topics []string) error {
	data, err := json.Marshal(topics)
	if err != nil {
		return fmt.Errorf("write announced discovery topics: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write announced discovery topics: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write announced discovery topics: %w", err)
	}
	return nil
}

// withRemovals adds an empty retained payload for every topic announced
// before that is not announced now.
func withRemovals(now []announcement, before []string) []announcement {
	for _, t := range before {
		if !slices.ContainsFunc(now, func(a announcement) bool { return a.topic == t }) {
			now = append(now, announcement{topic: t})
		}
	}
	return now
}
