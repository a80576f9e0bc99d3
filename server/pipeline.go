package server

import (
	"context"
	"log/slog"

	"github.com/mqflux/mqflux/bridge/fieldtypes"
	"github.com/mqflux/mqflux/bridge/influxwriter"
	"github.com/mqflux/mqflux/bridge/observe"
	"github.com/mqflux/mqflux/bridge/output"
	"github.com/mqflux/mqflux/bridge/pipeline"
)

// OpenPipeline builds the spool, mapping and InfluxDB writer from the
// configuration; `mqflux serve` and `mqflux bridge` share it.
// observers watch every reading the spool accepted (none for a bridge).
func OpenPipeline(cfg Config, log *slog.Logger, observers []observe.Observer) (*pipeline.Pipeline, error) {
	sp, err := cfg.Spool.Options()
	if err != nil {
		return nil, err
	}
	w, err := openInfluxWriter(cfg, log)
	if err != nil {
		return nil, err
	}
	return pipeline.Open(pipeline.Options{
		DataDir:       cfg.DataDir,
		Mapping:       cfg.Mapping,
		Spool:         sp,
		DeadLetterMax: int64(cfg.DeadLetter.MaxBytes),
		Outputs: []pipeline.OutputSpec{{
			Name:          "influx",
			Output:        w,
			Required:      true,
			Backoff:       output.Backoff{Max: cfg.Influx.MaxBackoff},
			BatchSize:     cfg.Influx.BatchSize,
			FlushInterval: cfg.Influx.FlushInterval,
			Concurrency:   cfg.Influx.Concurrency,
		}},
		Logger:     log,
		Observers:  observers,
		FieldTypes: learnFieldTypes(cfg, log),
	})
}

// learnFieldTypes asks InfluxDB for the field types it already holds, so
// that the first reading after a start that conflicts with them is refused
// before its acknowledgement. InfluxDB may be down or may not offer the
// query: then the types are learnt from the readings alone, and a
// conflict with what InfluxDB holds is found when it refuses the point
// (dead-lettered as influx_rejected).
func learnFieldTypes(cfg Config, log *slog.Logger) *fieldtypes.Store {
	store := fieldtypes.New(0)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Influx.Timeout
	if timeout <= 0 {
		timeout = influxwriter.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	q := fieldtypes.InfluxQL{URL: cfg.Influx.URL, Bucket: cfg.Influx.Bucket, Token: cfg.Influx.Token}
	n, err := q.Load(ctx, store)
	if err != nil {
		log.Warn("could not learn field types from InfluxDB; learning them from readings only", "influx", cfg.Influx.URL, "err", err)
		return store
	}
	log.Info("field types learnt from InfluxDB", "fields", n)
	return store
}

// openInfluxWriter builds the one output today's configuration describes.
func openInfluxWriter(cfg Config, log *slog.Logger) (*influxwriter.Writer, error) {
	if log != nil {
		log = log.With("component", "influx")
	}
	return influxwriter.New(cfg.Influx.Config(), log)
}
