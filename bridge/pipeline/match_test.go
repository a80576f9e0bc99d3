package pipeline

import "testing"

func TestMatchFilter(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"devices/+/sensors/+", "devices/pi/sensors/temperature", true},
		{"devices/+/sensors/+", "devices/pi/sensors/temperature/extra", false},
		{"devices/+/sensors/+", "devices/pi/sensors", false},
		{"devices/+/status", "devices/pi/status", true},
		{"devices/#", "devices/pi/sensors/t", true},
		{"devices/#", "devices", true},
		{"devices/#", "other/pi", false},
		{"#", "anything/at/all", true},
		{"#", "$SYS/broker/uptime", false},
		{"+/x", "$SYS/x", false},
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/", true},
		{"a/+/c", "a//c", true},
	}
	for _, tc := range cases {
		if got := MatchFilter(tc.filter, tc.topic); got != tc.want {
			t.Errorf("MatchFilter(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}
