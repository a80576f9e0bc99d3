package pipeline

import (
	"testing"

	"github.com/mqflux/mqflux/flow/deadletter"
)

// A replay filtered on measurement and field selects the
// field_type_conflict dead letters that name that field, and nothing else.
func TestReplayFilterByField(t *testing.T) {
	conflict := func(m, f string) deadletter.Entry {
		return deadletter.Entry{Source: "mqtt", Device: "d", Topic: "devices/d/sensors/" + m, Reason: "field_type_conflict",
			Detail: `field "` + f + `" of measurement "` + m + `" is string, this reading has float`}
	}
	other := deadletter.Entry{Source: "mqtt", Device: "d", Topic: "devices/d/sensors/victim", Reason: "bad_payload", Detail: "victim value"}
	refused := deadletter.Entry{Source: "influx", Reason: "influx_rejected", Detail: `field type conflict: input field "value" on measurement "victim" is type string`}
	cases := []struct {
		name string
		f    ReplayFilter
		e    deadletter.Entry
		want bool
	}{
		{"the field", ReplayFilter{Reason: "field_type_conflict", Measurement: "victim", Field: "value"}, conflict("victim", "value"), true},
		{"another field", ReplayFilter{Reason: "field_type_conflict", Measurement: "victim", Field: "value"}, conflict("victim", "other"), false},
		{"another measurement", ReplayFilter{Reason: "field_type_conflict", Measurement: "victim", Field: "value"}, conflict("bystander", "value"), false},
		{"measurement only", ReplayFilter{Measurement: "victim"}, conflict("victim", "other"), true},
		{"no conflict in the detail", ReplayFilter{Measurement: "victim"}, other, false},
		{"the output's refusals are never replayed", ReplayFilter{Measurement: "victim"}, refused, false},
		{"no field filter", ReplayFilter{Reason: "bad_payload"}, other, true},
	}
	for _, tc := range cases {
		if got := selected(tc.e, tc.f); got != tc.want {
			t.Errorf("%s: selected = %v, want %v", tc.name, got, tc.want)
		}
	}
}
