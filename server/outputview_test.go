package server

import (
	"testing"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/pipeline"
)

// Each output's view takes its numbers from the pipeline's Stats, by
// position and name: written, the output's own retries by reason and the
// batches the pipeline offered again; an output without stats shows zeros.
func TestOutputViewsFromStats(t *testing.T) {
	ph := pipeline.Health{Outputs: []pipeline.OutputHealth{{Name: "influx", Required: true, Up: true}, {Name: "vm"}}}
	st := pipeline.Stats{Outputs: []pipeline.OutputStats{
		{Name: "influx", Written: 10},
		{Name: "vm", Written: 7, Retries: 2, Own: output.Stats{Retries: map[string]int64{"network": 3, "timeout": 1}}},
	}}
	views := outputViews(nil, ph, st)
	cases := []struct {
		name      string
		got, want float64
	}{
		{"influx written", views[0].Written, 10},
		{"vm written", views[1].Written, 7},
		{"vm network retries", views[1].Retries["network"], 3},
		{"vm timeout retries", views[1].Retries["timeout"], 1},
		{"vm batches offered again", views[1].Retries[writeFailed], 2},
		{"influx retries", float64(len(views[0].Retries)), 0},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if empty := outputViews(nil, ph, pipeline.Stats{}); empty[0].Written != 0 || empty[1].Retries == nil {
		t.Errorf("without stats: %+v", empty)
	}
}
