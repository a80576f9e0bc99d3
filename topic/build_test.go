package topic

import (
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	cases := []struct {
		tpl, device, measurement string
		want                     string // "" with wantErr
		wantErr                  string
	}{
		{DefaultReadings, "pi-1", "temperature", "devices/pi-1/sensors/temperature", ""},
		{DefaultStatus, "pi-1", "", "devices/pi-1/status", ""},
		{"site/{device}/{measurement}", "pi-1", "t", "site/pi-1/t", ""},
		{DefaultStatus, "pi-1", "t", "", "has no {measurement} level"},
		{DefaultReadings, "pi-1", "", "", "level 4 {measurement}: is empty"},
		{DefaultReadings, "", "t", "", "level 2 {device}: is empty"},
		{DefaultReadings, "a/b", "t", "", `"a/b" has '/' at byte 1`},
		{DefaultReadings, "pi", "t#", "", `has '#' at byte 1`},
		{"farm/{site}/{measurement}", "pi", "t", "", "level 2 {site} cannot be filled"},
		{"a/+/{measurement}", "pi", "t", "", "level 2 + cannot be filled"},
		{"a/{device}/{measurement}/{field}", "pi", "t", "", "level 4 {field} cannot be filled"},
	}
	for _, tc := range cases {
		tp := MustParse(tc.tpl)
		got, err := tp.Build(tc.device, tc.measurement)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%s Build(%q, %q) = %q, %v; want %q", tc.tpl, tc.device, tc.measurement, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s Build(%q, %q) = %q, %v; want an error containing %q", tc.tpl, tc.device, tc.measurement, got, err, tc.wantErr)
		}
		if err == nil && !tp.MatchAs(got, Pin{Device, tc.device}) {
			t.Errorf("%s: built %q does not match as %s", tc.tpl, got, tc.device)
		}
	}
}

func TestCanBuild(t *testing.T) {
	for tpl, want := range map[string]bool{
		DefaultReadings:                    true,
		DefaultStatus:                      true,
		"site/{device}/{measurement}":      true,
		"farm/{site}/{measurement}":        false,
		"a/{device}/+":                     false,
		"a/{device}/{measurement}/#":       false,
		"a/{measurement}":                  false, // no {device}: the reading would not say whose it is
		"a/{device}/{measurement}/{field}": false,
	} {
		tp := MustParse(tpl)
		if got := tp.CanBuild(); got != want {
			t.Errorf("%s CanBuild() = %v, want %v", tpl, got, want)
		}
	}
}
