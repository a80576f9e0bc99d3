package pgwriter

import (
	"fmt"
	"log/slog"

	"github.com/mqflux/mqflux/flow/output"
)

// Kind is the name outputs: entries give this output (kind: postgres).
const Kind = "postgres"

func init() {
	output.Register(Kind, output.Kind{
		DefaultConfig: func() output.Config {
			c := DefaultConfig()
			return &c
		},
		New: newOutput,
	})
}

// newOutput builds the Writer of one outputs: entry.
func newOutput(name string, c output.Config, log *slog.Logger) (output.Output, error) {
	cfg, ok := c.(*Config)
	if !ok {
		return nil, fmt.Errorf("output %s: %T is not a %s configuration", name, c, Kind)
	}
	w, err := New(*cfg, log)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", name, err)
	}
	return w, nil
}
