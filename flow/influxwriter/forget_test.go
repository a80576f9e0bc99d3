package influxwriter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// lpTag escapes a tag value for line protocol.
var lpTag = strings.NewReplacer(`,`, `\,`, `=`, `\=`, ` `, `\ `)

// devicesIn lists the device tag values InfluxDB holds.
func devicesIn(t *testing.T, in *testenv.Influx) []string {
	t.Helper()
	var out []string
	for _, s := range in.Query(t, `SHOW TAG VALUES WITH KEY = "device"`) {
		for _, row := range s.Values {
			out = append(out, fmt.Sprint(row[1]))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// DeleteDevice drops the series of one device, in every measurement, and
// no other, whatever its name holds: a name built to widen the statement
// to other devices (quotes, OR, a second statement, backslashes) is only
// a name.
func TestDeleteDeviceHostileNames(t *testing.T) {
	in := testenv.StartInflux(t)
	hostile := []string{
		`x' OR "device"='victim`,
		`x' OR 1=1 --`,
		`y\' OR "device"=~/.*/ --`,
		`z'; DROP SERIES FROM /.*/; --`,
		`back\slash`,
		`quote"d`,
		`küche 温度`,
	}
	var lines []string
	for _, d := range append([]string{"victim", "victim2"}, hostile...) {
		for _, m := range []string{"temperature", "alerts"} {
			lines = append(lines, fmt.Sprintf("%s,device=%s value=1 1000000000", m, lpTag.Replace(d)))
		}
	}
	in.WriteLines(t, strings.Join(lines, "\n"))
	want := devicesIn(t, in)
	if len(want) != len(hostile)+2 {
		t.Fatalf("InfluxDB holds devices %q, want the %d written", want, len(hostile)+2)
	}
	o := DefaultOptions()
	o.URL, o.Bucket = in.URL, in.Bucket()
	for _, d := range hostile {
		if err := o.DeleteDevice(context.Background(), d); err != nil {
			t.Fatalf("DeleteDevice(%q): %v", d, err)
		}
		want = slices.DeleteFunc(want, func(s string) bool { return s == d })
		if got := devicesIn(t, in); !slices.Equal(got, want) {
			t.Fatalf("after DeleteDevice(%q) InfluxDB holds %q, want %q", d, got, want)
		}
	}
	if err := o.DeleteDevice(context.Background(), "never-seen"); err != nil {
		t.Errorf("DeleteDevice of a device never stored: %v", err)
	}
	for _, bad := range []string{"", "a\nb", "a\x00b", "\xff"} {
		if err := o.DeleteDevice(context.Background(), bad); err == nil {
			t.Errorf("DeleteDevice(%q) = nil, want a refusal", bad)
		}
	}
}
