package server

import (
	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/pipeline"
)

// outputState is what /healthz (outputH) and GET /v1/pipeline
// (outputView) both show of an output, their first keys.
type outputState struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Target and Details are what the output's kind says of it
	// (output.Describer): where it writes, and a few facts such as its API.
	Target   string            `json:"target"`
	Details  map[string]string `json:"details"`
	Required bool              `json:"required"`
	Up       bool              `json:"up"`
	// LagRecords and LagBytes are what the spool holds that this output
	// has not stored yet; LagSeconds is how long the oldest of them has
	// waited (0 when it is up to date).
	LagRecords int64   `json:"lag_records"`
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	// Skipped counts the readings an optional output skipped since the
	// start because it fell more than its max_lag behind.
	Skipped int64 `json:"skipped"`
}

// newOutputState is h's state, with the kind and description of list[i],
// the output configured at its position (none past the list's end).
func newOutputState(list []Output, i int, h pipeline.OutputHealth) outputState {
	s := outputState{Name: h.Name, Required: h.Required, Up: h.Up,
		LagRecords: h.LagRecords, LagBytes: h.LagBytes, LagSeconds: ageSeconds(h.LagOldest), Skipped: h.Skipped}
	if i < len(list) {
		d := output.Describe(list[i].Config)
		s.Kind, s.Target, s.Details = list[i].Kind, d.Target, d.Details
	}
	if s.Details == nil {
		s.Details = map[string]string{}
	}
	return s
}
