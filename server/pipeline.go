package server

import (
	"log/slog"
	"time"

	"github.com/mqflux/mqflux/bridge/influxwriter"
	"github.com/mqflux/mqflux/bridge/pipeline"
	"github.com/mqflux/mqflux/bridge/spool"
	"github.com/mqflux/mqflux/config"
)

// OpenPipeline builds the spool, mapping and InfluxDB writer from the
// configuration; `mqflux serve` and `mqflux bridge` share it.
// spooled, if not nil, is told of every record the spool accepted.
func OpenPipeline(cfg config.Server, log *slog.Logger, spooled func(rec []byte, received time.Time)) (*pipeline.Pipeline, error) {
	dur, err := spool.ParseDurability(cfg.Spool.Durability)
	if err != nil {
		return nil, err
	}
	wc := influxwriter.DefaultConfig(cfg.Influx.URL, cfg.Influx.Bucket)
	wc.Token, wc.Org = cfg.Influx.Token, cfg.Influx.Org
	wc.Gzip, wc.Timeout, wc.MaxBackoff = cfg.Influx.Gzip, cfg.Influx.Timeout, cfg.Influx.MaxBackoff
	return pipeline.Open(pipeline.Options{
		DataDir: cfg.DataDir,
		Mapping: cfg.Mapping,
		Spool: spool.Options{
			MaxBytes:     int64(cfg.Spool.MaxBytes),
			SegmentBytes: int64(cfg.Spool.SegmentBytes),
			Durability:   dur,
		},
		DeadLetterMax: int64(cfg.DeadLetter.MaxBytes),
		Influx:        wc,
		BatchSize:     cfg.Influx.BatchSize,
		FlushInterval: cfg.Influx.FlushInterval,
		Concurrency:   cfg.Influx.Concurrency,
		Logger:        log,
		Spooled:       spooled,
	})
}
