package pipeline

import "testing"

func TestDeviceOf(t *testing.T) {
	for _, tc := range []struct{ topic, want string }{
		{"devices/pi-7/sensors/temperature", "pi-7"},
		{"devices/pi-7", "pi-7"},
		{"devices//sensors/t", "unknown"},
		{"site/a/b", "site"},
		{"", "unknown"},
	} {
		if got := deviceOf(tc.topic); got != tc.want {
			t.Errorf("deviceOf(%q) = %q, want %q", tc.topic, got, tc.want)
		}
	}
}
