package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/mqflux/mqflux/flow/output"
)

// OutputSpec is one output the pipeline feeds from the spool: its own
// cursor, batches, writers in flight and backoff, so that a slow or down
// output never holds up another.
type OutputSpec struct {
	// Name labels the output in metrics, logs, /healthz and dead letters
	// ("<name>" as the source, "<name>_rejected" as the reason). Unique.
	Name string
	// Output stores what the spool holds; the pipeline owns it from Open
	// on and closes it (if it is an io.Closer) in Stop, or in Open when
	// Open fails.
	Output output.Output
	// Required: a reading leaves the spool only once every required output
	// has it, and a required output that holds the spool full pushes the
	// publishers back (nothing is dropped). An optional output falls
	// behind up to MaxLag bytes of spool, then skips ahead to the newest
	// readings, counting and logging every reading it skipped. At least one
	// output must be required.
	Required bool
	MaxLag   int64 // bytes; optional outputs only; 0 means DefaultMaxLag
	// Backoff spaces the attempts at a batch the output answered with an
	// error; zero fields take output's defaults.
	Backoff       output.Backoff
	BatchSize     int           // records per write request; 0 means output.DefaultBatchSize
	BatchBytes    int           // bytes per write request; 0 means 8 MiB
	FlushInterval time.Duration // write a partial batch after this long; 0 means output.DefaultFlushInterval
	Concurrency   int           // write requests in flight; 0 means output.DefaultConcurrency
}

// DefaultMaxLag is how far behind an optional output may fall when its
// MaxLag is 0.
const DefaultMaxLag = 256 << 20

// OutputHealth is what /healthz and the console report of one output.
type OutputHealth struct {
	Name     string
	Required bool
	Up       bool // the output takes writes (output.Up)
	// LagRecords and LagBytes are what the spool holds that this output
	// has not stored yet; LagOldest is when the oldest of those entered
	// the spool (zero when it is up to date).
	LagRecords int64
	LagBytes   int64
	LagOldest  time.Time
	// Skipped counts the readings an optional output skipped because it
	// fell more than MaxLag behind, since the start.
	Skipped int64
	// Error is the output's newest failure and ErrorAt when
	// (output.LastError); empty when it never failed.
	Error   string
	ErrorAt time.Time
}

// withDefaults checks the outputs and fills in their zero fields.
func withDefaults(specs []OutputSpec) ([]OutputSpec, error) {
	if len(specs) == 0 {
		return nil, errors.New("pipeline open: no output")
	}
	out := make([]OutputSpec, len(specs))
	seen := map[string]bool{}
	required := false
	for i, s := range specs {
		if s.Output == nil {
			return nil, fmt.Errorf("pipeline open: output %d (%q) is nil", i, s.Name)
		}
		if s.Name == "" {
			s.Name = "influx"
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("pipeline open: two outputs named %q", s.Name)
		}
		seen[s.Name] = true
		required = required || s.Required
		if s.BatchSize <= 0 {
			s.BatchSize = output.DefaultBatchSize
		}
		if s.BatchBytes <= 0 {
			s.BatchBytes = 8 << 20
		}
		if s.FlushInterval <= 0 {
			s.FlushInterval = output.DefaultFlushInterval
		}
		if s.Concurrency <= 0 {
			s.Concurrency = output.DefaultConcurrency
		}
		if s.MaxLag <= 0 {
			s.MaxLag = DefaultMaxLag
		}
		out[i] = s
	}
	if !required {
		return nil, errors.New("pipeline open: no required output (the spool would keep nothing for anyone)")
	}
	return out, nil
}

// closeOutputs releases every output that holds anything.
func closeOutputs(specs []OutputSpec) error {
	var errs []error
	for _, s := range specs {
		if s.Output != nil {
			errs = append(errs, closeOutput(s.Output))
		}
	}
	return errors.Join(errs...)
}
