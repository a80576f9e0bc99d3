package alert

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
)

func notes(ns []notify.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Device+" "+n.Rule+" "+n.State+" "+n.Reason)
	}
	return out
}

// Forgetting a device resolves each firing alert once, with reason
// "forgotten", and the device leaves the registry; its next reading
// brings it back as new, with nothing firing.
func TestForget(t *testing.T) {
	const min = time.Minute
	cfg := DefaultConfig()
	cfg.Rules = []Rule{{Name: "hot", Measurement: "temperature", Above: fptr(30)}}
	cases := []struct {
		name   string
		steps  []step
		forget string
		want   []string
		known  bool
	}{
		{"two firing alerts resolve once each", []step{reading(0, "pi-1", "temperature", 40), check(11 * min), status(12*min, "pi-1", "offline")},
			"pi-1", []string{"pi-1 hot resolved forgotten", "pi-1 offline resolved forgotten", "pi-1 silent resolved forgotten"}, true},
		{"nothing firing, nothing told", []step{reading(0, "pi-1", "temperature", 20)}, "pi-1", nil, true},
		{"an unknown device", []step{reading(0, "pi-1", "temperature", 20)}, "pi-2", nil, false},
		{"a hostile name is only a name", []step{reading(0, "pi-1", "temperature", 40)}, `pi-1' OR "device"='pi-1`, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(cfg, t0, nil)
			run(e, tc.steps)
			f, ns := e.Forget(t0.Add(20*min), tc.forget, "ops-admin")
			if got := notes(ns); !slices.Equal(got, tc.want) || f.Known != tc.known {
				t.Fatalf("Forget = %+v, %q; want known %v, %q", f, got, tc.known, tc.want)
			}
			for _, n := range ns {
				if !strings.Contains(n.Message, "forgotten by ops-admin") {
					t.Errorf("message %q does not say who forgot it", n.Message)
				}
			}
			if _, still := e.Devices()[tc.forget]; still {
				t.Fatalf("%s still in the registry", tc.forget)
			}
			if f2, ns := e.Forget(t0.Add(21*min), tc.forget, "ops-admin"); f2.Known || len(ns) > 0 {
				t.Errorf("a second forget: %+v, %v; want nothing", f2, notes(ns))
			}
			if tc.known {
				run(e, []step{reading(30*min, tc.forget, "temperature", 20)})
				d := e.Devices()[tc.forget]
				if d == nil || !d.FirstSeen.Equal(t0.Add(30*min)) || len(d.Alerts) > 0 && d.firing(RuleSilent) {
					t.Errorf("after a new reading: %+v; want a new device first seen at +30m", d)
				}
			}
		})
	}
}

// alerts.forget_after forgets devices offline or silent, with no message,
// for that long, counting from the engine's start at the earliest; a
// device still publishing is kept.
func TestExpire(t *testing.T) {
	const min = time.Minute
	cfg := DefaultConfig()
	cfg.ForgetAfter = time.Hour
	e := NewEngine(cfg, t0, nil)
	run(e, []step{
		reading(0, "quiet", "t", 1), reading(0, "gone", "t", 1), status(min, "gone", "offline"),
		reading(0, "busy", "t", 1), check(11 * min),
	})
	for at := 12 * min; at < 70*min; at += 5 * min {
		run(e, []step{reading(at, "busy", "t", 1)})
	}
	if names, _ := e.Expire(t0.Add(59 * min)); len(names) != 0 {
		t.Fatalf("at +59m Expire forgot %v", names)
	}
	// quiet was last heard at +0, gone (its offline status) at +1m.
	names, ns := e.Expire(t0.Add(60 * min))
	if !slices.Equal(names, []string{"quiet"}) || !slices.Equal(notes(ns), []string{"quiet silent resolved forgotten"}) {
		t.Fatalf("at +60m Expire forgot %v (%q), want quiet with its silence resolved", names, notes(ns))
	}
	names, ns = e.Expire(t0.Add(61 * min))
	if !slices.Equal(names, []string{"gone"}) || !slices.Equal(notes(ns), []string{"gone offline resolved forgotten"}) {
		t.Fatalf("at +61m Expire forgot %v (%q), want gone with its offline alert resolved", names, notes(ns))
	}
	if _, ok := e.Devices()["busy"]; !ok {
		t.Errorf("busy, publishing all along, was forgotten")
	}

	// A restart gives every device forget_after again from the start.
	saved := map[string]*Device{"old": {Name: "old", LastSeen: t0.Add(-48 * time.Hour), Presence: StateOffline}}
	e = NewEngine(cfg, t0, saved)
	if names, _ := e.Expire(t0.Add(59 * min)); len(names) != 0 {
		t.Errorf("a device saved by an earlier run was forgotten %v before forget_after passed since the start", names)
	}
	if names, _ := e.Expire(t0.Add(60 * min)); !slices.Equal(names, []string{"old"}) {
		t.Errorf("Expire at start+forget_after = %v, want old", names)
	}
}
