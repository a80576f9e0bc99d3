package server

import (
	"time"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/pipeline"
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

// writeFailed is the reason under which a view lists the batches an
// output failed and the pipeline offered again, beside the reasons the
// output counts itself.
const writeFailed = "write_failed"

func outputViews(list []Output, ph pipeline.Health, st pipeline.Stats) []outputView {
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
		if i < len(st.Outputs) && st.Outputs[i].Name == h.Name {
			ost := st.Outputs[i]
			ov.Written = float64(ost.Written)
			for reason, n := range ost.Own.Retries {
				ov.Retries[reason] += float64(n)
			}
			if ost.Retries > 0 {
				ov.Retries[writeFailed] += float64(ost.Retries)
			}
		}
		if h.Error != "" {
			at := h.ErrorAt.UTC()
			ov.LastErrorAt = &at
		}
		out = append(out, ov)
	}
	return out
}
