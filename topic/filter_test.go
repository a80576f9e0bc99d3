package topic

import "testing"

func TestCovers(t *testing.T) {
	none, pi1 := Pin{}, Pin{Device, "pi-1"}
	cases := []struct {
		tpl, filter string
		pin         Pin
		want        bool
	}{
		{DefaultReadings, "devices/+/sensors/+", none, true},
		{DefaultReadings, "devices/pi-1/sensors/temp", none, true},
		{DefaultReadings, "devices/+/sensors/#", none, false},
		{DefaultReadings, "devices/#", none, false},
		{DefaultReadings, "#", none, false},
		{DefaultReadings, "devices/+/sensors", none, false},
		{DefaultReadings, "devices/+/sensors/+/x", none, false},
		{DefaultReadings, "devices/+/other/+", none, false},
		{DefaultReadings, "devices/pi-1/sensors/+", pi1, true},
		{DefaultReadings, "devices/pi-2/sensors/+", pi1, false},
		{DefaultReadings, "devices/+/sensors/+", pi1, false},
		{DefaultStatus, "devices/pi-1/status", pi1, true},
		{"farm/{site}/{measurement}", "farm/+/+", pi1, false}, // no {device} to pin
		{"legacy/{device}/#", "legacy/+/a/#", none, true},
		{"legacy/{device}/#", "legacy/+", none, true},
		{"legacy/{device}/#", "legacy/#", none, false},
		{"legacy/{device}/#", "legacy/pi-1/#", pi1, true},
	}
	for _, tc := range cases {
		tp := MustParse(tc.tpl)
		if got := tp.Covers(tc.filter, tc.pin); got != tc.want {
			t.Errorf("%s Covers(%q, %+v) = %v, want %v", tc.tpl, tc.filter, tc.pin, got, tc.want)
		}
	}
}

func TestCoversPrefix(t *testing.T) {
	none, pi1 := Pin{}, Pin{Device, "pi-1"}
	cases := []struct {
		tpl, prefix string
		pin         Pin
		want        bool
	}{
		{DefaultReadings, "devices", none, true},
		{DefaultReadings, "devices/+/sensors", none, true},
		{DefaultReadings, "devices/+/sensors/temp", none, true},
		{DefaultReadings, "devices/+/sensors/temp/x", none, false},
		{DefaultReadings, "other", none, false},
		{DefaultReadings, "", none, false},
		{DefaultReadings, "devices/pi-1", pi1, true},
		{DefaultReadings, "devices/pi-2", pi1, false},
		{DefaultReadings, "devices/+", pi1, false},
		{"{site}/{device}/{measurement}", "+", none, true},
	}
	for _, tc := range cases {
		tp := MustParse(tc.tpl)
		if got := tp.CoversPrefix(tc.prefix, tc.pin); got != tc.want {
			t.Errorf("%s CoversPrefix(%q, %+v) = %v, want %v", tc.tpl, tc.prefix, tc.pin, got, tc.want)
		}
	}
}
