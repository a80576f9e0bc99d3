package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/mqflux/mqflux/flow/fieldtypes"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/pipeline"
)

// OpenPipeline builds the spool, mapping and one writer per output from
// the configuration; `mqflux serve` and `mqflux bridge` share it.
// observers watch every reading the spool accepted (none for mqflux bridge).
func OpenPipeline(cfg Config, log *slog.Logger, observers []observe.Observer) (*pipeline.Pipeline, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sp, err := cfg.Spool.Options()
	if err != nil {
		return nil, err
	}
	specs, err := openOutputs(cfg, log)
	if err != nil {
		return nil, err
	}
	types, source := learnFieldTypes(cfg.Primary(), log)
	return pipeline.Open(pipeline.Options{
		DataDir:         cfg.DataDir,
		Mapping:         cfg.Mapping,
		Spool:           sp,
		DeadLetterMax:   int64(cfg.DeadLetter.MaxBytes),
		Outputs:         specs,
		Logger:          log,
		Observers:       observers,
		FieldTypes:      types,
		FieldTypeSource: source,
	})
}

// openOutputs builds one OutputSpec per configured output, in order, each
// by its kind's New; on a failure it closes the outputs already built.
func openOutputs(cfg Config, log *slog.Logger) ([]pipeline.OutputSpec, error) {
	var specs []pipeline.OutputSpec
	for _, o := range cfg.OutputList() {
		w, err := openOutput(o, log)
		if err != nil {
			for _, s := range specs {
				if c, ok := s.Output.(io.Closer); ok {
					err = errors.Join(err, c.Close())
				}
			}
			return nil, err
		}
		feed := output.FeedOf(o.Config)
		specs = append(specs, pipeline.OutputSpec{
			Name:          o.Name,
			Output:        w,
			Required:      o.Required,
			MaxLag:        maxLag(o, int64(cfg.Spool.MaxBytes)),
			Backoff:       output.Backoff{Max: feed.MaxBackoff},
			BatchSize:     feed.BatchSize,
			FlushInterval: feed.FlushInterval,
			Concurrency:   feed.Concurrency,
		})
	}
	return specs, nil
}

// maxLag is how far an optional output may fall behind: its max_lag, or
// the pipeline's default bounded by half the spool, so that an optional
// output skips ahead well before it could fill the spool.
func maxLag(o Output, spoolMax int64) int64 {
	if o.Required {
		return 0
	}
	if o.MaxLag > 0 {
		return int64(o.MaxLag)
	}
	return min(pipeline.DefaultMaxLag, spoolMax/2)
}

// openOutput builds one output by its kind, its log named after it.
func openOutput(o Output, log *slog.Logger) (output.Output, error) {
	kind, ok := output.Lookup(o.Kind)
	if !ok {
		return nil, fmt.Errorf("output %s: no output kind %q; known kinds: %v", o.Name, o.Kind, output.Kinds())
	}
	w, err := kind.New(o.Name, o.Config, log.With("component", "output", "output", o.Name))
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", o.Name, err)
	}
	return w, nil
}

// defaultQueryTimeout bounds the field-type query of an output that sets
// no timeout of its own.
const defaultQueryTimeout = 10 * time.Second

// learnFieldTypes asks the primary output for the field types it already
// holds, so that the first reading after a start that conflicts with them
// is refused before its acknowledgement, and returns it as the source the
// pipeline asks again. The output may not answer InfluxQL at all (its kind
// is no output.Querier), or be down, or be a store without the v1 query API
// (VictoriaMetrics): then the types learnt from readings stay provisional
// until it answers, a reading is never refused for contradicting one, and
// the output decides (a point it refuses is dead-lettered as
// <output>_rejected).
func learnFieldTypes(primary Output, log *slog.Logger) (*fieldtypes.Store, fieldtypes.Source) {
	store := fieldtypes.New(0)
	querier, ok := primary.Config.(output.Querier)
	if !ok {
		log.Info("the first output does not answer InfluxQL; field types are learnt from readings only, and refuse nothing", "output", primary.Name, "kind", primary.Kind)
		return store, nil
	}
	e := querier.QueryEndpoint()
	if e.Timeout <= 0 {
		e.Timeout = defaultQueryTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	q := fieldtypes.InfluxQL{Endpoint: e}
	n, err := q.Load(ctx, store)
	if err != nil {
		log.Warn("could not learn field types from the first output (it is down, or does not answer InfluxQL); types learnt from readings stay provisional until it answers",
			"output", primary.Name, "url", e.URL, "err", err)
		return store, q
	}
	log.Info("field types learnt from the first output", "output", primary.Name, "fields", n)
	return store, q
}
