package topic

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRejects(t *testing.T) {
	cases := []struct{ src, want string }{
		{"", "is empty"},
		{"devices/{device", `level 2 "{device": +, #, { and } must each be a whole level`},
		{"devices/x{device}/{measurement}", "level 2"},
		{"devices/#/{measurement}", "# must be the last level"},
		{"devices/a+/{measurement}", "whole level"},
		{"{device}/{device}/{measurement}", "level 2: device appears twice"},
		{"{measurement}/{measurement}", "{measurement} appears twice"},
		{"{field}/a/{field}", "level 3: {field} appears twice"},
		{"a/{time}/{measurement}", "refuses a tag named time"},
		{"a/{de vice}/{measurement}", "a capture name may use only"},
		{"a/{}/b", "a capture name may use only"},
		{"a/b\x01/c", `level 2 "b\x01": has a control character at byte 1`},
		{"a/\xff", "is not valid UTF-8 at byte 0"},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			_, err := Parse(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) = %v, want an error containing %q", tc.src, err, tc.want)
			}
		})
	}
}

func TestParseLevels(t *testing.T) {
	tp := MustParse("farm/{site}/+/{measurement}/{field}/#")
	want := []Level{{Literal, "farm"}, {Capture, "site"}, {Any, ""}, {Measurement, ""}, {Field, ""}, {Rest, ""}}
	if !slices.Equal(tp.Levels(), want) {
		t.Fatalf("levels %+v, want %+v", tp.Levels(), want)
	}
	if got := tp.Filter(); got != "farm/+/+/+/+/#" {
		t.Errorf("Filter() = %q", got)
	}
	if got := tp.Tags(); !slices.Equal(got, []string{"site"}) {
		t.Errorf("Tags() = %q", got)
	}
	if tp.Index("site") != 1 || tp.Index("device") != -1 {
		t.Errorf("Index: site %d, device %d", tp.Index("site"), tp.Index("device"))
	}
	st := MustParse(DefaultStatus)
	if !tp.Has(Field) || st.Has(Measurement) {
		t.Errorf("Has is wrong")
	}
	if tp.String() != "farm/{site}/+/{measurement}/{field}/#" {
		t.Errorf("String() = %q", tp.String())
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		tpl, name string
		want      []string // nil: no match
	}{
		{DefaultReadings, "devices/pi-1/sensors/temp", []string{"devices", "pi-1", "sensors", "temp"}},
		{DefaultReadings, "devices/pi-1/sensors", nil},
		{DefaultReadings, "devices/pi-1/sensors/temp/x", nil},
		{DefaultReadings, "other/pi-1/sensors/temp", nil},
		{DefaultReadings, "devices//sensors/temp", []string{"devices", "", "sensors", "temp"}},
		{"legacy/{device}/#", "legacy/pi/a/b", []string{"legacy", "pi"}},
		{"legacy/{device}/#", "legacy/pi", []string{"legacy", "pi"}},
		{"legacy/{device}/#", "legacy", nil},
		{"+", "", []string{""}},
	}
	for _, tc := range cases {
		tp := MustParse(tc.tpl)
		pre := []string{"kept"}
		got, ok := tp.Match(tc.name, pre)
		if ok != (tc.want != nil) {
			t.Errorf("%s matching %q: %v", tc.tpl, tc.name, ok)
			continue
		}
		if !ok {
			if !slices.Equal(got, pre) {
				t.Errorf("%s mismatching %q changed dst to %q", tc.tpl, tc.name, got)
			}
			continue
		}
		if !slices.Equal(got[1:], tc.want) || got[0] != "kept" {
			t.Errorf("%s matching %q gave %q, want %q after the kept value", tc.tpl, tc.name, got, tc.want)
		}
	}
}

func TestMatchAs(t *testing.T) {
	cases := []struct {
		tpl, name, device string
		want              bool
	}{
		{DefaultReadings, "devices/pi-1/sensors/t", "pi-1", true},
		{DefaultReadings, "devices/pi-2/sensors/t", "pi-1", false},
		{DefaultReadings, "devices/pi-1/other/t", "pi-1", false},
		{DefaultStatus, "devices/pi-1/status", "pi-1", true},
		{"site/{device}/{measurement}", "site/pi-1/t", "pi-1", true},
		{"farm/{site}/{measurement}", "farm/pi-1/t", "pi-1", false}, // no {device}
		{"legacy/{device}/#", "legacy/pi-1/a/b", "pi-1", true},
	}
	for _, tc := range cases {
		tp := MustParse(tc.tpl)
		if got := tp.MatchAs(tc.name, Pin{Device, tc.device}); got != tc.want {
			t.Errorf("%s MatchAs(%q, %s) = %v, want %v", tc.tpl, tc.name, tc.device, got, tc.want)
		}
	}
}

// The mapper matches every reading's topic: matching must not allocate.
func TestMatchDoesNotAllocate(t *testing.T) {
	tp := MustParse(DefaultReadings)
	buf := make([]string, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		vals, ok := tp.Match("devices/pi-1/sensors/temperature", buf[:0])
		if tp.Matches("devices/pi-1/sensors/temperature/x") || !tp.Matches("devices/pi-1/sensors/t") {
			t.Fatal("Matches is wrong")
		}
		if !ok || len(vals) != 4 {
			t.Fatal("no match")
		}
		if !tp.MatchAs("devices/pi-1/sensors/temperature", Pin{Device, "pi-1"}) {
			t.Fatal("no match as pi-1")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per match, want 0", allocs)
	}
}

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
