package server

import (
	"log/slog"
	"time"

	"github.com/mqflux/mqflux/bridge/pipeline"
)

// OpenPipeline builds the spool, mapping and InfluxDB writer from the
// configuration; `mqflux serve` and `mqflux bridge` share it.
// spooled, if not nil, is told of every record the spool accepted.
func OpenPipeline(cfg Config, log *slog.Logger, spooled func(rec []byte, received time.Time)) (*pipeline.Pipeline, error) {
	sp, err := cfg.Spool.Options()
	if err != nil {
		return nil, err
	}
	return pipeline.Open(pipeline.Options{
		DataDir:       cfg.DataDir,
		Mapping:       cfg.Mapping,
		Spool:         sp,
		DeadLetterMax: int64(cfg.DeadLetter.MaxBytes),
		Influx:        cfg.Influx.Config(),
		BatchSize:     cfg.Influx.BatchSize,
		FlushInterval: cfg.Influx.FlushInterval,
		Concurrency:   cfg.Influx.Concurrency,
		Logger:        log,
		Spooled:       spooled,
	})
}
