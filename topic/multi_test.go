package topic

import (
	"slices"
	"testing"
)

func TestMultiMatch(t *testing.T) {
	tests := []struct {
		tpl, name string
		want      []string // nil: no match
	}{
		{"zigbee2mqtt/{device+}", "zigbee2mqtt/kitchen/sensor", []string{"zigbee2mqtt", "kitchen/sensor"}},
		{"zigbee2mqtt/{device+}", "zigbee2mqtt/plug", []string{"zigbee2mqtt", "plug"}},
		{"zigbee2mqtt/{device+}", "zigbee2mqtt", nil},
		{"zigbee2mqtt/{device+}", "zigbee2mqtt/", nil},
		{"zigbee2mqtt/{device+}/availability", "zigbee2mqtt/a/b/availability", []string{"zigbee2mqtt", "a/b", "availability"}},
		{"zigbee2mqtt/{device+}/availability", "zigbee2mqtt/availability", nil},
		{"zigbee2mqtt/{device+}/availability", "zigbee2mqtt/a/b/state", nil},
		{"z/{device+}/{measurement}", "z/a/b/temp", []string{"z", "a/b", "temp"}},
		{"z/{device+}/{measurement}", "z/temp", nil},
		{"other/{device+}", "zigbee2mqtt/a", nil},
	}
	for _, tt := range tests {
		tpl := MustParse(tt.tpl)
		got, ok := tpl.Match(tt.name, nil)
		if ok != (tt.want != nil) || (ok && !slices.Equal(got, tt.want)) {
			t.Errorf("%s.Match(%q) = %q, %v; want %q", tt.tpl, tt.name, got, ok, tt.want)
		}
	}
}

func TestMultiParse(t *testing.T) {
	for _, bad := range []string{"a/{x+}/{y+}", "a/{x+}/#", "a/{measurement+}", "a/{field+}", "a/{+}"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	tpl := MustParse("zigbee2mqtt/{device+}/availability")
	if got := tpl.Filter(); got != "zigbee2mqtt/#" {
		t.Errorf("Filter = %q", got)
	}
	if got := tpl.Tags(); !slices.Equal(got, []string{"device"}) {
		t.Errorf("Tags = %q", got)
	}
	if tpl.CanBuild() {
		t.Error("a {device+} template cannot be built from a device name")
	}
}

func TestMultiPinAndCover(t *testing.T) {
	tpl := MustParse("zigbee2mqtt/{device+}/availability")
	pin := Pin{Name: Device, Value: "hall/motion"}
	if !tpl.MatchAs("zigbee2mqtt/hall/motion/availability", pin) {
		t.Error("MatchAs refused the pinned device's own topic")
	}
	if tpl.MatchAs("zigbee2mqtt/hall/door/availability", pin) {
		t.Error("MatchAs took another device's topic")
	}
	tests := []struct {
		filter string
		pin    Pin
		want   bool
	}{
		{"zigbee2mqtt/hall/motion/availability", pin, true},
		{"zigbee2mqtt/hall/+/availability", pin, false},
		{"zigbee2mqtt/+/availability", Pin{}, true},
		{"zigbee2mqtt/+/+/availability", Pin{}, true},
		{"zigbee2mqtt/#", Pin{}, false},
		{"zigbee2mqtt/availability", Pin{}, false},
		{"zigbee2mqtt/a/state", Pin{}, false},
	}
	for _, tt := range tests {
		if got := tpl.Covers(tt.filter, tt.pin); got != tt.want {
			t.Errorf("Covers(%q, %v) = %v, want %v", tt.filter, tt.pin, got, tt.want)
		}
	}
	if tpl.CoversPrefix("zigbee2mqtt/hall", pin) {
		t.Error("CoversPrefix gave a subtree inside a {name+} level")
	}
}
