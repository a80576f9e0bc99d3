package mapping

import (
	"slices"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/topic"
)

func TestReadingTopic(t *testing.T) {
	layout := func(status string, templates ...string) Config {
		c := DefaultConfig()
		c.Topics = nil
		for _, tpl := range templates {
			c.Topics = append(c.Topics, TopicRule{Template: tpl})
		}
		c.StatusTemplate = status
		return c
	}
	cases := []struct {
		name                string
		cfg                 Config
		device, measurement string
		want, wantErr       string
	}{
		{"default", DefaultConfig(), "pi-1", "temperature", "devices/pi-1/sensors/temperature", ""},
		{"another layout", layout("site/{device}/status", "site/{device}/{measurement}"), "pi-1", "temperature", "site/pi-1/temperature", ""},
		{"first buildable template", testConfig(), "pi-1", "t", "devices/pi-1/sensors/t", ""},
		{"skips what cannot be built", layout("", "farm/{site}/{measurement}", "a/+/{measurement}", "b/{device}/{measurement}"), "pi", "t", "b/pi/t", ""},
		{"skips a topic an earlier template takes", layout("", "x/{site}/{measurement}", "x/{device}/{measurement}"), "pi", "t", "", "no template in mapping.topics"},
		{"skips a topic taken for presence", layout("s/{device}/status", "s/{device}/{measurement}"), "pi", "status", "", "no template in mapping.topics"},
		{"nothing buildable", layout("", "farm/{site}/{measurement}"), "pi", "t", "", "no template in mapping.topics gives device \"pi\""},
		{"bad value", DefaultConfig(), "a/b", "t", "", `device "a/b", measurement "t": template devices/{device}/sensors/{measurement}: level 2 {device}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustNew(t, tc.cfg)
			got, err := m.ReadingTopic(tc.device, tc.measurement)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadingTopic = %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadingTopic = %q, %v; want %q", got, err, tc.want)
			}
			// The topic must map to a point of that device and measurement.
			line, err := m.Append(nil, got, []byte("1"), receivedAt())
			if err != nil || !strings.HasPrefix(string(line), tc.measurement+",device="+tc.device+" ") {
				t.Fatalf("%s maps to %q, %v", got, line, err)
			}
		})
	}
}

func TestTemplatesIncludeStatus(t *testing.T) {
	var got []string
	for _, tp := range mustNew(t, DefaultConfig()).Templates() {
		got = append(got, tp.String())
	}
	if want := []string{topic.DefaultReadings, topic.DefaultLogs, topic.DefaultStatus}; !slices.Equal(got, want) {
		t.Fatalf("Templates() = %q, want %q", got, want)
	}
	c := DefaultConfig()
	c.StatusTemplate, c.LogsTemplate = "", ""
	if n := len(mustNew(t, c).Templates()); n != 1 {
		t.Fatalf("without presence and logs Templates() has %d entries, want 1", n)
	}
}

func TestDeviceOf(t *testing.T) {
	site := DefaultConfig()
	site.Topics = []TopicRule{{Template: "site/{device}/{measurement}"}}
	site.StatusTemplate = "site/{device}/status"
	site.LogsTemplate = "site/{device}/logs"
	for _, tc := range []struct {
		cfg         Config
		topic, want string
	}{
		{DefaultConfig(), "devices/pi-7/sensors/temperature", "pi-7"},
		{DefaultConfig(), "devices/pi-7", "pi-7"},
		{DefaultConfig(), "devices/pi-7/commands/reboot", "pi-7"},
		{DefaultConfig(), "devices//sensors/t", "devices"},
		{DefaultConfig(), "site/a/b", "site"},
		{DefaultConfig(), "", "unknown"},
		{site, "site/a/b", "a"},
		{site, "devices/pi-7/sensors/t", "devices"},
	} {
		m, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.DeviceOf(tc.topic); got != tc.want {
			t.Errorf("DeviceOf(%q) = %q, want %q", tc.topic, got, tc.want)
		}
	}
}
