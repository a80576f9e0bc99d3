package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// agentConfig writes a device config with the given sensor lines.
func agentConfig(t *testing.T, dir, broker string, sensors ...string) string {
	t.Helper()
	path := filepath.Join(dir, "device.yaml")
	yaml := fmt.Sprintf(`device:
  id: demo-device
  broker: tcp://%s
  username: demo-device
  password: demo-device-pass
  max_reconnect_interval: 1s
  queue: {dir: %s, max_bytes: 4MiB, fsync: always}
  sensors:
    - %s
`, broker, filepath.Join(dir, "queue"), strings.Join(sensors, "\n    - "))
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// retained is one message mosquitto_sub printed as "retain|topic|length|payload".
type retained struct {
	retain bool
	topic  string
	empty  bool
	config map[string]any
}

func parseRetained(t *testing.T, line string) retained {
	t.Helper()
	parts := strings.SplitN(line, "|", 4)
	if len(parts) != 4 {
		t.Fatalf("mosquitto_sub line %q", line)
	}
	r := retained{retain: parts[0] == "1", topic: parts[1], empty: parts[2] == "0"}
	if !r.empty {
		if err := json.Unmarshal([]byte(parts[3]), &r.config); err != nil {
			t.Fatalf("discovery config on %s is not JSON: %v: %q", r.topic, err, parts[3])
		}
	}
	return r
}

// checkConfig holds a discovery config to the keys Home Assistant's MQTT
// sensor and discovery documentation require or the agent promises.
func checkConfig(t *testing.T, topic string, c map[string]any, unit, class string) {
	t.Helper()
	for _, k := range []string{"name", "unique_id", "state_topic", "value_template", "state_class", "availability_topic", "payload_available", "payload_not_available"} {
		if s, _ := c[k].(string); s == "" {
			t.Errorf("%s: %s is missing or not a string: %v", topic, k, c)
		}
	}
	if c["state_class"] != "measurement" {
		t.Errorf("%s: state_class %v", topic, c["state_class"])
	}
	if c["availability_topic"] != "devices/demo-device/status" || c["payload_available"] != "online" || c["payload_not_available"] != "offline" {
		t.Errorf("%s: availability %v %v %v", topic, c["availability_topic"], c["payload_available"], c["payload_not_available"])
	}
	if c["value_template"] != "{{ value_json.value }}" {
		t.Errorf("%s: value_template %v", topic, c["value_template"])
	}
	if got, _ := c["unit_of_measurement"].(string); got != unit {
		t.Errorf("%s: unit_of_measurement %q, want %q", topic, got, unit)
	}
	if got, _ := c["device_class"].(string); got != class {
		t.Errorf("%s: device_class %q, want %q", topic, got, class)
	}
	dev, _ := c["device"].(map[string]any)
	ids, _ := dev["identifiers"].([]any)
	if len(ids) == 0 || dev["name"] != "demo-device" {
		t.Errorf("%s: device block %v lacks identifiers or name", topic, dev)
	}
}

// The Pi agent announces each measurement to Home Assistant with a
// retained discovery config that mosquitto_sub reads back with the keys
// Home Assistant requires, its state topic carrying readings whose JSON has
// the value the template reads; a sensor taken out of the config has its
// config removed (an empty retained payload) on the next start.
func TestHomeAssistantDiscovery(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	bin := testenv.Build(t, "./cmd/mqflux-device")
	dir := t.TempDir()
	thermal := filepath.Join(dir, "temp")
	if err := os.WriteFile(thermal, []byte("42000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cpu := fmt.Sprintf("{kind: cpu_temp, path: %s, interval: 200ms}", thermal)
	sim := "{kind: sim, measurement: b, interval: 200ms}"
	config := agentConfig(t, dir, srv.MQTT, cpu, sim)

	format := []string{"-F", "%r|%t|%l|%p"}
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "homeassistant/#", format...)
	readings := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/demo-device/sensors/cpu_temperature", "-C", "1")
	srv.WaitLog(t, "subscribed", "filter=devices/demo-device/sensors/cpu_temperature")
	agent := startAgent(t, bin, config)
	configs := map[string]map[string]any{}
	for _, l := range sub.WaitLines(t, 2, 30*time.Second) {
		r := parseRetained(t, l)
		configs[r.topic] = r.config
	}
	cpuTopic, simTopic := "homeassistant/sensor/demo-device/cpu_temperature/config", "homeassistant/sensor/demo-device/b/config"
	if len(configs) != 2 || configs[cpuTopic] == nil || configs[simTopic] == nil {
		t.Fatalf("discovery configs %v, want %s and %s", configs, cpuTopic, simTopic)
	}
	checkConfig(t, cpuTopic, configs[cpuTopic], "°C", "temperature")
	checkConfig(t, simTopic, configs[simTopic], "", "")
	if configs[cpuTopic]["unique_id"] == configs[simTopic]["unique_id"] {
		t.Errorf("two configs share unique_id %v", configs[cpuTopic]["unique_id"])
	}

	// The state topic carries readings with the value the template reads.
	st, _ := configs[cpuTopic]["state_topic"].(string)
	line := readings.WaitLines(t, 1, 30*time.Second)[0]
	topic, body, _ := strings.Cut(line, " ")
	var reading map[string]any
	if topic != st || json.Unmarshal([]byte(body), &reading) != nil || reading["value"] != 42.0 {
		t.Errorf("reading %q on %s, want {\"value\": 42, ...} on the state topic %s", body, topic, st)
	}

	// A fresh subscriber gets both configs retained.
	again := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "homeassistant/#", format...)
	for _, l := range again.WaitLines(t, 2, 30*time.Second) {
		if r := parseRetained(t, l); !r.retain {
			t.Errorf("discovery config %s not retained", r.topic)
		}
	}

	// Without the sim sensor, the next start removes its config.
	if err := agent.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("agent stop: %v", err)
	}
	agentConfig(t, dir, srv.MQTT, cpu)
	startAgent(t, bin, config)
	for seen, removed := len(sub.Lines()), false; !removed; seen++ {
		r := parseRetained(t, sub.WaitLines(t, seen+1, 30*time.Second)[seen])
		removed = r.topic == simTopic && r.empty
		if r.topic == simTopic && !r.empty {
			t.Fatalf("the removed sensor's config was announced again: %v", r.config)
		}
	}
	// A new subscriber gets the one config left retained; the wait bounds
	// how long it listens for retained messages, nothing else.
	last := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "homeassistant/#", append(format, "--retained-only", "-W", "3")...)
	_, _ = last.Wait(30 * time.Second)
	var left []string
	for _, l := range last.Lines() {
		left = append(left, parseRetained(t, l).topic)
	}
	if !slices.Equal(left, []string{cpuTopic}) {
		t.Errorf("retained discovery configs after the removal: %q, want only %s", left, cpuTopic)
	}
}
