package server

import (
	"log/slog"

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
		Output:        w,
		OutputName:    "influx",
		Backoff:       output.Backoff{Max: cfg.Influx.MaxBackoff},
		BatchSize:     cfg.Influx.BatchSize,
		FlushInterval: cfg.Influx.FlushInterval,
		Concurrency:   cfg.Influx.Concurrency,
		Logger:        log,
		Observers:     observers,
	})
}

// openInfluxWriter builds the one output today's configuration describes.
func openInfluxWriter(cfg Config, log *slog.Logger) (*influxwriter.Writer, error) {
	if log != nil {
		log = log.With("component", "influx")
	}
	return influxwriter.New(cfg.Influx.Config(), log)
}
