package server

import (
	"log/slog"

	"github.com/mqflux/mqflux/bridge/influxwriter"
	"github.com/mqflux/mqflux/bridge/observe"
	"github.com/mqflux/mqflux/bridge/output"
	"github.com/mqflux/mqflux/bridge/pipeline"
	"github.com/mqflux/mqflux/bridge/spool"
	"github.com/mqflux/mqflux/config"
)

// OpenPipeline builds the spool, mapping and InfluxDB writer from the
// configuration; `mqflux serve` and `mqflux bridge` share it.
// observers watch every reading the spool accepted (none for a bridge).
func OpenPipeline(cfg config.Server, log *slog.Logger, observers []observe.Observer) (*pipeline.Pipeline, error) {
	dur, err := spool.ParseDurability(cfg.Spool.Durability)
	if err != nil {
		return nil, err
	}
	w, err := openInfluxWriter(cfg, log)
	if err != nil {
		return nil, err
	}
	return pipeline.Open(pipeline.Options{
		DataDir: cfg.DataDir,
		Mapping: cfg.Mapping,
		Spool: spool.Options{
			MaxBytes:     int64(cfg.Spool.MaxBytes),
			SegmentBytes: int64(cfg.Spool.SegmentBytes),
			Durability:   dur,
		},
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
func openInfluxWriter(cfg config.Server, log *slog.Logger) (*influxwriter.Writer, error) {
	wc := influxwriter.DefaultConfig(cfg.Influx.URL, cfg.Influx.Bucket)
	wc.Token, wc.Org = cfg.Influx.Token, cfg.Influx.Org
	wc.Gzip, wc.Timeout, wc.MaxBackoff = cfg.Influx.Gzip, cfg.Influx.Timeout, cfg.Influx.MaxBackoff
	if log != nil {
		log = log.With("component", "influx")
	}
	return influxwriter.New(wc, log)
}
