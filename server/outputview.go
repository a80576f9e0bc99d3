package server

import (
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/mqflux/mqflux/bridge/output"
	"github.com/mqflux/mqflux/bridge/pipeline"
)

// outputView is one output in GET /v1/pipeline.
type outputView struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Target and Details are what the output's kind says of it
	// (output.Describer): where it writes, and a few facts such as its API.
	Target   string            `json:"target"`
	Details  map[string]string `json:"details"`
	Required bool              `json:"required"`
	Up       bool              `json:"up"`
	// LagRecords and LagBytes are what the spool holds that this output
	// has not stored yet, LagSeconds the age of the oldest of them.
	LagRecords int64   `json:"lag_records"`
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	Skipped    int64   `json:"skipped"` // readings skipped past max_lag since start
	// Written counts the readings this output stored since start; the
	// console turns two answers into a rate.
	Written float64            `json:"written"`
	Retries map[string]float64 `json:"retries"` // failed attempts, by reason
	// LastError is the output's newest failure, kept after it recovers;
	// LastErrorAt when it happened.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

func outputViews(list []Output, ph pipeline.Health) []outputView {
	out := make([]outputView, 0, len(ph.Outputs))
	for i, h := range ph.Outputs {
		ov := outputView{Name: h.Name, Required: h.Required, Up: h.Up,
			LagRecords: h.LagRecords, LagBytes: h.LagBytes, LagSeconds: ageSeconds(h.LagOldest),
			Skipped: h.Skipped, Retries: map[string]float64{}, LastError: h.Error}
		if i < len(list) {
			d := output.Describe(list[i].Config)
			ov.Kind, ov.Target, ov.Details = list[i].Kind, d.Target, d.Details
		}
		if ov.Details == nil {
			ov.Details = map[string]string{}
		}
		if h.Error != "" {
			at := h.ErrorAt.UTC()
			ov.LastErrorAt = &at
		}
		out = append(out, ov)
	}
	return out
}

// perOutput adds a metric family's per-output counts to the views: the
// pipeline's written count and the writers' retries, each labelled with
// output. A writer's metric without that label is the only output's.
func perOutput(f *dto.MetricFamily, views []outputView) {
	name := f.GetName()
	if name != "mqflux_output_written_total" && name != "mqflux_influx_retries_total" || len(views) == 0 {
		return
	}
	for _, m := range f.GetMetric() {
		ov := &views[0]
		reason := ""
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "output":
				ov = viewNamed(views, l.GetValue())
			case "reason":
				reason = l.GetValue()
			}
		}
		if ov == nil {
			continue
		}
		n := m.GetCounter().GetValue()
		if name == "mqflux_output_written_total" {
			ov.Written += n
		} else {
			ov.Retries[reason] += n
		}
	}
}

func viewNamed(views []outputView, name string) *outputView {
	for i := range views {
		if views[i].Name == name {
			return &views[i]
		}
	}
	return nil
}
