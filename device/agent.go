package device

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mqflux/mqflux/device/queue"
	"github.com/mqflux/mqflux/device/sensor"
	"github.com/mqflux/mqflux/internal/backoff"
)

// Run reads the sensors into the queue and publishes the queue until ctx
// is cancelled. It returns an error only when it cannot start (the queue
// cannot be opened, a password file cannot be read); once running, every
// failure is retried and logged, never fatal.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	return run(ctx, cfg, log, nil)
}

// ackFunc is told of each reading's PUBACK, after the queue has it
// acknowledged, with the published body: the benchmarks measure the
// readings' queue delay with it.
type ackFunc func(body []byte, at time.Time)

func run(ctx context.Context, cfg Config, log *slog.Logger, acked ackFunc) error {
	fsync, err := queue.ParseFsync(cfg.Queue.Fsync)
	if err != nil {
		return fmt.Errorf("device.queue.fsync: %w", err)
	}
	tp, err := cfg.topics()
	if err != nil {
		return err
	}
	password, err := cfg.password()
	if err != nil {
		return err
	}
	tlsConfig, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	q, err := queue.Open(queue.Options{
		Dir: cfg.Queue.Dir, MaxBytes: int64(cfg.Queue.MaxBytes), Fsync: fsync,
		Logger: log.With("component", "queue"),
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := q.Close(); err != nil {
			log.Error("close queue", "err", err)
		}
	}()
	st := q.Stats()
	log.Info("starting", "id", cfg.ID, "broker", cfg.Broker, "sensors", len(cfg.Sensors),
		"queued", st.Records, "queue_bytes", st.Bytes, "queue_dir", cfg.Queue.Dir)

	buses := sensor.NewBuses()
	defer buses.Close()
	health := newHealth()
	app := &appender{q: q, topics: tp, log: log}
	disc, err := cfg.discovery(tp)
	if err != nil {
		return err
	}
	pub := &publisher{cfg: cfg, status: tp.status, discovery: disc, password: password, tls: tlsConfig, q: q, log: log.With("component", "mqtt"), acked: acked}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	logs, err := openLogs(runCtx, cfg, fsync, log)
	if err != nil {
		return err
	}
	defer logs.close(log)
	if logs != nil {
		pub.logs, pub.logsTopic = logs.q, tp.logs
	}
	var wg sync.WaitGroup
	for i := range cfg.Sensors {
		s := newSensor(&cfg.Sensors[i], buses)
		wg.Go(func() {
			sample(runCtx, s, cfg.Sensors[i].Interval, backoff.Policy{Min: minSensorRetry, Max: maxSensorRetry}, app, health, log)
		})
	}
	wg.Go(func() { summarize(runCtx, cfg.SummaryInterval, q, pub, app, health, logs, log) })
	pub.run(ctx)
	stop()
	wg.Wait()
	logSummary(q, pub, app, health, logs, log, "stopped")
	return nil
}

// newSensor builds the sensor an entry of the config describes; the entry
// has been validated and its defaults filled.
func newSensor(c *Sensor, buses *sensor.Buses) sensor.Sensor {
	switch c.Kind {
	case "bme280", "bmp280":
		return sensor.NewBMxx80(c.Kind, buses.Opener(c.Bus, c.Kind, c.Address), c.Address, c.Prefix)
	case "aht20":
		return sensor.NewAHT20(buses.Opener(c.Bus, c.Kind, sensor.AHT20Address), c.Prefix)
	case "ds18b20":
		return sensor.NewDS18B20(c.W1Dir, c.Serial, c.Measurement)
	case "cpu_temp":
		return sensor.NewCPUTemp(c.Path, c.Measurement)
	case "disk":
		return sensor.NewDisk(c.Path, c.Measurement)
	}
	return sensor.NewSim(sensor.SimParams{
		Measurement: c.Measurement, Seed: c.Seed, Base: *c.Base, Step: *c.Step,
		Amplitude: *c.Amplitude, Period: *c.Period, Noise: *c.Noise,
	})
}

func summarize(ctx context.Context, every time.Duration, q *queue.Queue, pub *publisher, app *appender, h *health, lf *logForwarding, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			logSummary(q, pub, app, h, lf, log, "summary")
		}
	}
}

func logSummary(q *queue.Queue, pub *publisher, app *appender, h *health, lf *logForwarding, log *slog.Logger, msg string) {
	st := q.Stats()
	attrs := []any{"queued", st.Records, "queue_bytes", st.Bytes, "read", app.read.Load(),
		"sent", st.Acked, "refused", st.Refused, "skipped", st.Skipped,
		"connected", pub.connected.Load(), "connects", pub.connects.Load(),
		"failed_sensors", h.failingNames()}
	if lf != nil {
		ls := lf.q.Stats()
		attrs = append(attrs, "log_lines_read", lf.ship.Read.Load(), "log_lines_queued", ls.Records,
			"log_lines_sent", pub.logsSent.Load(), "log_lines_over_rate", lf.ship.OverRate.Load(),
			"log_lines_dropped", lf.ship.Dropped.Load(), "log_lines_failed", lf.ship.Failed.Load())
	}
	log.Info(msg, attrs...)
}
