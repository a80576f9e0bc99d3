package alert

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/point"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// step is one event at t0+at: a reading (measurement and value), a
// presence message (status "online"/"offline"), or a check of the clock
// (neither).
type step struct {
	at          time.Duration
	device      string
	measurement string
	value       float64
	status      string
}

func reading(at time.Duration, device, measurement string, v float64) step {
	return step{at: at, device: device, measurement: measurement, value: v}
}
func status(at time.Duration, device, s string) step { return step{at: at, device: device, status: s} }
func check(at time.Duration) step                    { return step{at: at} }

func fptr(v float64) *float64 { return &v }

// run feeds the steps to e and returns every transition as
// "device rule state".
func run(e *Engine, steps []step) []string {
	var got []string
	var set point.Set
	for _, s := range steps {
		now := t0.Add(s.at)
		var ns []string
		switch {
		case s.device == "":
			for _, n := range e.Check(now) {
				ns = append(ns, n.Device+" "+n.Rule+" "+n.State)
			}
		default:
			set.Reset()
			if s.status != "" {
				set.Begin(mapping.StatusMeasurement, now.UnixNano())
				set.Tag("device", s.device)
				set.Field(point.BoolField("online", s.status == "online"))
				set.Field(point.StringField("state", s.status))
			} else {
				set.Begin(s.measurement, now.UnixNano())
				set.Tag("device", s.device)
				set.Field(point.FloatField("value", s.value))
			}
			for _, n := range e.Observe(now, s.device, set.At(0)) {
				ns = append(ns, n.Device+" "+n.Rule+" "+n.State)
			}
		}
		slices.Sort(ns) // Check walks a map
		got = append(got, ns...)
	}
	return got
}

func TestEngine(t *testing.T) {
	const min = time.Minute
	diskFull := Rule{Name: "disk-full", Measurement: "disk_used_percent", Above: fptr(90), For: 5 * min, Hysteresis: 2}
	freezing := Rule{Name: "freezing", Measurement: "temperature", Below: fptr(0), For: 10 * min, Devices: []string{"greenhouse-*"}}
	quick := Rule{Name: "hot", Measurement: "temperature", Above: fptr(30)}
	cases := []struct {
		name  string // a name starting "grace" has a device "old" saved by an earlier run
		rules []Rule
		steps []step
		want  []string
	}{
		{
			name:  "silent fires once and resolves once",
			steps: []step{reading(0, "pi-1", "t", 1), check(9 * min), check(10 * min), check(11 * min), check(30 * min), reading(31*min, "pi-1", "t", 2), reading(32*min, "pi-1", "t", 3), check(33 * min)},
			want:  []string{"pi-1 silent firing", "pi-1 silent resolved"},
		},
		{
			name:  "a device publishing in time never goes silent",
			steps: []step{reading(0, "pi-1", "t", 1), reading(9*min, "pi-1", "t", 1), check(18 * min), reading(18*min, "pi-1", "t", 1), check(27 * min)},
			want:  nil,
		},
		{
			name:  "grace after start: a device last heard long before the start has silent_after from the start",
			steps: []step{check(-time.Hour + 1), check(9 * min), check(10 * min)},
			want:  []string{"old silent firing"},
		},
		{
			name:  "offline from the Last Will, online resolves it; no silence while offline",
			steps: []step{reading(0, "pi-1", "t", 1), status(min, "pi-1", "offline"), status(2*min, "pi-1", "offline"), check(60 * min), status(61*min, "pi-1", "online"), check(65 * min), check(71 * min)},
			want:  []string{"pi-1 offline firing", "pi-1 offline resolved", "pi-1 silent firing"},
		},
		{
			name:  "threshold fires after its duration, once",
			rules: []Rule{diskFull},
			steps: []step{reading(0, "pi-1", "disk_used_percent", 95), reading(4*min, "pi-1", "disk_used_percent", 96), reading(5*min, "pi-1", "disk_used_percent", 97), reading(6*min, "pi-1", "disk_used_percent", 97), check(7 * min)},
			want:  []string{"pi-1 disk-full firing"},
		},
		{
			name:  "threshold fires on the clock when readings are sparse",
			rules: []Rule{diskFull},
			steps: []step{reading(0, "pi-1", "disk_used_percent", 95), check(4 * min), check(5 * min), check(6 * min)},
			want:  []string{"pi-1 disk-full firing"},
		},
		{
			name:  "a dip below the line restarts the duration",
			rules: []Rule{diskFull},
			steps: []step{reading(0, "pi-1", "disk_used_percent", 95), reading(4*min, "pi-1", "disk_used_percent", 80), reading(6*min, "pi-1", "disk_used_percent", 95), check(10 * min), check(11 * min)},
			want:  []string{"pi-1 disk-full firing"},
		},
		{
			name:  "hysteresis: hovering at the line does not resolve; coming back by the hysteresis does, once",
			rules: []Rule{diskFull},
			steps: []step{reading(0, "pi-1", "disk_used_percent", 95), check(5 * min), reading(6*min, "pi-1", "disk_used_percent", 89.5), reading(7*min, "pi-1", "disk_used_percent", 90.5), reading(8*min, "pi-1", "disk_used_percent", 88.5), reading(9*min, "pi-1", "disk_used_percent", 87.9), reading(10*min, "pi-1", "disk_used_percent", 50)},
			want:  []string{"pi-1 disk-full firing", "pi-1 disk-full resolved"},
		},
		{
			name:  "without a duration a rule fires on the reading",
			rules: []Rule{quick},
			steps: []step{reading(0, "pi-1", "temperature", 31), reading(time.Second, "pi-1", "temperature", 32), reading(2*time.Second, "pi-1", "temperature", 29)},
			want:  []string{"pi-1 hot firing", "pi-1 hot resolved"},
		},
		{
			name:  "device patterns",
			rules: []Rule{freezing},
			steps: []step{reading(0, "greenhouse-1", "temperature", -1), reading(0, "garage", "temperature", -5), check(10 * min)},
			want:  []string{"greenhouse-1 freezing firing"},
		},
		{
			name:  "other measurements and fields leave a rule alone",
			rules: []Rule{diskFull},
			steps: []step{reading(0, "pi-1", "disk_free", 95), check(10 * min)},
			want:  nil,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Rules = c.rules
			devices := map[string]*Device{}
			if c.name[:5] == "grace" {
				devices["old"] = &Device{Name: "old", FirstSeen: t0.Add(-48 * time.Hour), LastSeen: t0.Add(-47 * time.Hour), LastReading: t0.Add(-47 * time.Hour)}
			}
			if c.rules != nil {
				cfg.SilentAfter = 0 // thresholds are checked without silence getting in the way
			}
			got := run(NewEngine(cfg, t0, devices), c.steps)
			if !slices.Equal(got, c.want) {
				t.Errorf("transitions %q, want %q", got, c.want)
			}
		})
	}
}

// Silence alerts are off with silent_after 0.
func TestSilenceDisabled(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SilentAfter = 0
	if got := run(NewEngine(cfg, t0, nil), []step{reading(0, "pi-1", "t", 1), check(24 * time.Hour)}); got != nil {
		t.Errorf("transitions %q with silence disabled", got)
	}
}

// Each transition has an ID of its own, and the same transition always
// has the same ID.
func TestTransitionIDs(t *testing.T) {
	cfg := DefaultConfig()
	e := NewEngine(cfg, t0, nil)
	var set point.Set
	set.Begin("t", t0.UnixNano())
	set.Tag("device", "pi-1")
	set.Field(point.FloatField("value", 1))
	e.Observe(t0, "pi-1", set.At(0))
	seen := map[string]bool{}
	for i := 1; i <= 3; i++ {
		at := t0.Add(time.Duration(i) * time.Hour)
		for _, n := range append(e.Check(at), e.Observe(at.Add(time.Minute), "pi-1", set.At(0))...) {
			if seen[n.ID] {
				t.Errorf("ID %s used twice", n.ID)
			}
			seen[n.ID] = true
		}
	}
	if len(seen) != 6 {
		t.Errorf("%d transitions in 3 episodes, want 6", len(seen))
	}
	if a, b := transitionID("d", "r", "firing", t0), transitionID("d", "r", "firing", t0); a != b {
		t.Errorf("IDs differ: %s %s", a, b)
	}
}

// The registry stays within max_devices and max_measurements.
func TestRegistryBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxDevices, cfg.MaxMeasurements = 3, 2
	e := NewEngine(cfg, t0, nil)
	var set point.Set
	for i := range 5 {
		for j := range 4 {
			set.Reset()
			set.Begin(fmt.Sprintf("m%d", j), t0.UnixNano())
			set.Field(point.FloatField("value", 1))
			e.Observe(t0, fmt.Sprintf("d%d", i), set.At(0))
		}
	}
	if len(e.Devices()) != 3 || e.Untracked() != 8 {
		t.Errorf("%d devices, %d untracked readings; want 3 and 8", len(e.Devices()), e.Untracked())
	}
	for _, d := range e.Devices() {
		if len(d.Latest) != 2 {
			t.Errorf("%s keeps %d measurements, want 2", d.Name, len(d.Latest))
		}
	}
}

// State of a rule the configuration no longer has is forgotten at start:
// nothing could resolve it.
func TestRetiredRulesForgotten(t *testing.T) {
	saved := func() map[string]*Device {
		return map[string]*Device{"pi-1": {Name: "pi-1", Alerts: map[string]*Alert{
			"gone": {Firing: true}, "kept": {Firing: true}, RuleSilent: {Firing: true}, RuleOffline: {Firing: true}}}}
	}
	cfg := DefaultConfig()
	cfg.Rules = []Rule{{Name: "kept", Measurement: "m", Above: fptr(1)}}
	cases := []struct {
		silentAfter time.Duration
		want        []string
	}{
		{time.Minute, []string{"kept", "offline", "silent"}},
		{0, []string{"kept", "offline"}},
	}
	for _, c := range cases {
		cfg.SilentAfter = c.silentAfter
		e := NewEngine(cfg, t0, saved())
		var got []string
		for rule := range e.Devices()["pi-1"].Alerts {
			got = append(got, rule)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("silent_after %v: rules kept %q, want %q", c.silentAfter, got, c.want)
		}
	}
}
