package mapping

import (
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
)

// presetsConfig is testConfig with the presets whose topics a device can
// publish readings on.
func presetsConfig() Config {
	c := testConfig()
	c.Presets = []string{"tasmota", "shelly", "zigbee2mqtt"}
	return c
}

// A payload key that is, or looks like, a tag the layout gives would be
// read for the tag by InfluxQL (WHERE device='x' matches a field device) or
// by whoever reads a dashboard: refused on every path, whatever the format.
func TestPayloadKeysMayNotShadowTopicTags(t *testing.T) {
	m := mustNew(t, presetsConfig())
	tests := []struct {
		name, topic, payload string
		reason, detail       string
	}{
		{"json field", "devices/dev1/sensors/m", `{"value": 99, "device": "dev2"}`,
			"bad_field", `field "device" at byte 14 would shadow tag "device" (captured by template "devices/{device}/sensors/{measurement}")`},
		{"json field, other case", "devices/dev1/sensors/m", `{"value": 99, "Device": "dev2"}`, "bad_field", `field "Device"`},
		{"json field, trailing space", "devices/dev1/sensors/m", `{"value": 99, "device ": "dev2"}`, "bad_field", `field "device "`},
		{"json field, inner space", "devices/dev1/sensors/m", `{"value": 99, "de vice": "dev2"}`, "bad_field", `field "de vice"`},
		{"json field, zero-width", "devices/dev1/sensors/m", `{"value": 99, "de\u200bvice": "dev2"}`, "bad_field", `would shadow tag "device"`},
		{"json field, non-ASCII space", "devices/dev1/sensors/m", `{"value": 99, "\u00a0DEVICE": "dev2"}`, "bad_field", `would shadow tag "device"`},
		{"json explicit field", "devices/dev1/sensors/m", `{"fields": {"value": 99, "device": "dev2"}}`, "bad_field", `field "device"`},
		{"json tag, other case", "devices/dev1/sensors/m", `{"value": 99, "tags": {"Device": "dev2"}}`, "bad_tag", `tag "Device" would shadow tag "device"`},
		{"json tag given by another rule", "devices/dev1/sensors/m", `{"value": 99, "tags": {"source": "farm"}}`,
			"bad_tag", `tag "source" would shadow tag "source" (a static tag of template "farm/{site}/+/{measurement}/{field}")`},
		{"json field named like another template's capture", "devices/dev1/sensors/m", `{"value": 99, "channel": 1}`,
			"bad_field", `captured by template "shellies/{device}/{measurement}/{channel}/{field}"`},
		{"line field", "devices/dev1/line", `m value=99,device="dev2"`, "bad_field", `line 1: field "device" would shadow tag "device"`},
		{"line tag, other case", "devices/dev1/line", `m,DEVICE=dev2 value=99`, "bad_tag", `line 1: tag "DEVICE" would shadow`},
		{"line field named like the rule's static tag", "devices/dev1/line", `m value=99,Site="x"`, "bad_field", `would shadow tag "site"`},
		{"topic field level", "farm/north/x/m/device", `99`, "bad_field", `field "device" at byte 0 would shadow`},
		{"tasmota", "tele/dev1/SENSOR", `{"device": "dev2", "AM2301": {"Temperature": 99}}`, "bad_field", `field "device"`},
		{"tasmota object_tag as field", "tele/dev1/SENSOR", `{"Sensor": "x", "AM2301": {"Temperature": 99}}`, "bad_field", `would shadow tag "sensor"`},
		{"tasmota flattened", "tele/dev1/STATE", `{"Device": "dev2", "Wifi": {"RSSI": 99}}`, "bad_field", `field "Device"`},
		{"shelly gen2", "dev1/status/switch:0", `{"device": "dev2", "apower": 99}`, "bad_field", `field "device"`},
		{"shelly gen2 component", "dev1/status/switch:0", `{"component": "light:0", "apower": 99}`, "bad_field", `would shadow tag "component"`},
		{"zigbee2mqtt", "zigbee2mqtt/dev1", `{"device": "dev2", "temperature": 99}`, "bad_field", `field "device" at byte 1 would shadow tag "device" (captured by template "zigbee2mqtt/{device+}")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rej := appendChecked(t, m, tt.topic, []byte(tt.payload), receivedAt())
			if rej == nil || rej.Reason != tt.reason || !strings.Contains(rej.Detail, tt.detail) {
				t.Fatalf("got %v; want %s containing %q", rej, tt.reason, tt.detail)
			}
		})
	}
}

// The readings of other inputs (the legacy HTTP API) are held to the same
// rule.
func TestReadingKeysMayNotShadowTopicTags(t *testing.T) {
	m := mustNew(t, presetsConfig())
	for _, key := range []string{"device", "Device", " device"} {
		r := ingest.Reading{Device: "dev1", Measurement: "m", Fields: []point.Field{
			{Key: "value", Kind: point.Float, F: 99}, {Key: key, Kind: point.String, S: "dev2"}}}
		_, _, err := m.AppendReading(nil, nil, r, receivedAt())
		if re := rejectOf(t, err); re.Reason != "bad_field" || !strings.Contains(re.Detail, `would shadow tag "device"`) {
			t.Fatalf("field %q: %v", key, re)
		}
	}
}

// Keys that only resemble a topic tag are kept.
func TestPayloadKeysNearTopicTagsAreKept(t *testing.T) {
	m := mustNew(t, presetsConfig())
	out, rej := appendChecked(t, m, "devices/dev1/sensors/m",
		[]byte(`{"device_id": "x", "devices": 2, "sensors": 1, "tags": {"room": "k"}}`), receivedAt())
	if rej != nil {
		t.Fatal(rej)
	}
	want := `m,device=dev1,room=k device_id="x",devices=2,sensors=1 ` + rxNanos + "\n"
	if string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}
