package server

import (
	"fmt"
	"strings"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/pipeline"
)

// outputH is one output in /healthz, of `mqflux serve` and `mqflux bridge`.
type outputH struct {
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
	Skipped   int64  `json:"skipped"`
	LastError string `json:"last_error"`
}

func outputsHealth(list []Output, ph pipeline.Health) []outputH {
	out := make([]outputH, 0, len(ph.Outputs))
	for i, o := range ph.Outputs {
		h := outputH{Name: o.Name, Required: o.Required, Up: o.Up,
			LagRecords: o.LagRecords, LagBytes: o.LagBytes, LagSeconds: ageSeconds(o.LagOldest),
			Skipped: o.Skipped, LastError: o.Error, Details: map[string]string{}}
		if i < len(list) {
			d := output.Describe(list[i].Config)
			h.Kind, h.Target = list[i].Kind, d.Target
			if d.Details != nil {
				h.Details = d.Details
			}
		}
		out = append(out, h)
	}
	return out
}

// outputsDown says which outputs are unreachable and what that means for
// the readings, for the readiness text; "" when every output is up.
func outputsDown(ph pipeline.Health) string {
	var required, optional []string
	for _, o := range ph.Outputs {
		switch {
		case o.Up:
		case o.Required:
			required = append(required, o.Name)
		default:
			optional = append(optional, o.Name)
		}
	}
	var parts []string
	if len(required) > 0 {
		parts = append(parts, fmt.Sprintf("output %s unreachable, readings wait in the spool", strings.Join(required, ", ")))
	}
	if len(optional) > 0 {
		parts = append(parts, fmt.Sprintf("optional output %s unreachable, falling behind", strings.Join(optional, ", ")))
	}
	return strings.Join(parts, "; ")
}

// outputNames lists the outputs for the start-up log.
func outputNames(list []Output) string {
	names := make([]string, len(list))
	for i, o := range list {
		names[i] = o.Name + "=" + o.Kind
		if t := output.Describe(o.Config).Target; t != "" {
			names[i] += ":" + t
		}
	}
	return strings.Join(names, " ")
}

// primaryInflux is the influx object of /healthz: the first output, kept
// for clients written before outputs existed; its url is the output's
// target and its bucket the detail of that name, when it has one.
func primaryInflux(cfg Config, ph pipeline.Health) influx {
	d := output.Describe(cfg.Primary().Config)
	return influx{URL: d.Target, Bucket: d.Details["bucket"], Up: len(ph.Outputs) > 0 && ph.Outputs[0].Up}
}
