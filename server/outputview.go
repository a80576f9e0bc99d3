package server

import (
	"time"

	"github.com/mqflux/mqflux/flow/pipeline"
)

// outputView is one output in GET /v1/pipeline.
type outputView struct {
	outputState
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
		ov := outputView{outputState: newOutputState(list, i, h), Retries: map[string]float64{}, LastError: h.Error}
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
