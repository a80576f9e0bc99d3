package server

import (
	"fmt"
	"strings"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/pipeline"
)

// outputH is one output in /healthz, of `mqflux serve` and `mqflux bridge`.
type outputH struct {
	outputState
	LastError string `json:"last_error"`
}

func outputsHealth(list []Output, ph pipeline.Health) []outputH {
	out := make([]outputH, 0, len(ph.Outputs))
	for i, o := range ph.Outputs {
		out = append(out, outputH{outputState: newOutputState(list, i, o), LastError: o.Error})
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
