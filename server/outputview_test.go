package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Each output's written count and retries come from the metrics labelled
// with its name; a writer's metric without the label is the first output's.
func TestPerOutputCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	written := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqflux_output_written_total"}, []string{"output"})
	retries := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqflux_influx_retries_total"}, []string{"output", "reason"})
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqflux_readings_written_total"}, []string{"output"})
	reg.MustRegister(written, retries, other)
	written.WithLabelValues("influx").Add(10)
	written.WithLabelValues("vm").Add(7)
	written.WithLabelValues("gone").Add(99) // no such output: ignored
	retries.WithLabelValues("vm", "network").Add(3)
	retries.WithLabelValues("vm", "timeout").Add(1)
	other.WithLabelValues("vm").Add(1000) // not a per-output family
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	views := []outputView{{Name: "influx", Retries: map[string]float64{}}, {Name: "vm", Retries: map[string]float64{}}}
	for _, f := range fams {
		perOutput(f, views)
	}
	cases := []struct {
		name      string
		got, want float64
	}{
		{"influx written", views[0].Written, 10},
		{"vm written", views[1].Written, 7},
		{"vm network retries", views[1].Retries["network"], 3},
		{"vm timeout retries", views[1].Retries["timeout"], 1},
		{"influx retries", float64(len(views[0].Retries)), 0},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	unlabelled := prometheus.NewRegistry()
	solo := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqflux_influx_retries_total"}, []string{"reason"})
	unlabelled.MustRegister(solo)
	solo.WithLabelValues("network").Add(2)
	fams, err = unlabelled.Gather()
	if err != nil {
		t.Fatal(err)
	}
	one := []outputView{{Name: "influx", Retries: map[string]float64{}}}
	perOutput(fams[0], one)
	if one[0].Retries["network"] != 2 {
		t.Errorf("an unlabelled writer's retries = %v, want them the first output's", one[0].Retries)
	}
}
