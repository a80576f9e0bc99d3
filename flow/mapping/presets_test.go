package mapping

import (
	"slices"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/mapping/fixture"
)

// presetFixtureConfig enables every preset with the zone the Tasmota
// fixtures were written for.
func presetFixtureConfig() Config {
	c := DefaultConfig()
	c.Presets = []string{"zigbee2mqtt", "tasmota", "esphome", "shelly"}
	c.Timezone = "Europe/Berlin"
	return c
}

// Every fixture payload becomes exactly its points, and every preset has
// fixtures naming their documentation source.
func TestPresetFixtures(t *testing.T) {
	m := mustNew(t, presetFixtureConfig())
	all, err := fixture.LoadDir("testdata/presets")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range PresetNames() {
		cases := all[name]
		if len(cases) == 0 {
			t.Errorf("preset %s has no fixtures in testdata/presets/%s.txt", name, name)
			continue
		}
		srcs, err := fixture.Sources("testdata/presets/" + name + ".txt")
		if err != nil || len(srcs) == 0 || !slices.ContainsFunc(srcs, func(s string) bool { return strings.HasPrefix(s, "https://") }) {
			t.Errorf("testdata/presets/%s.txt names no documentation source (%v)", name, err)
		}
		ignored := 0
		for _, c := range cases {
			out, err := m.Append(nil, c.Topic, []byte(c.Payload), receivedAt())
			if err != nil {
				t.Errorf("%s:%d %s: %v", c.File, c.Line, c.Topic, err)
				continue
			}
			var want strings.Builder
			for _, p := range c.Points {
				want.WriteString(p)
				if !endsWithTime(p) {
					want.WriteString(" " + rxNanos)
				}
				want.WriteString("\n")
			}
			if len(c.Points) == 0 {
				ignored++
			}
			if string(out) != want.String() {
				t.Errorf("%s:%d %s:\ngot\n%swant\n%s", c.File, c.Line, c.Topic, out, want.String())
			}
		}
		if ignored == 0 {
			t.Errorf("preset %s: no fixture shows an ignored topic", name)
		}
	}
}

// endsWithTime reports whether a fixture point ends with a timestamp: a
// last space-separated word of digits after the fields.
func endsWithTime(p string) bool {
	i := strings.LastIndexByte(p, ' ')
	if i < 0 || p[i-1] == '\\' {
		return false
	}
	last := p[i+1:]
	if strings.ContainsAny(last, "=\"") || last == "" {
		return false
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
