package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mqflux/mqflux/flow/pipeline"
)

// lifecycle is how `mqflux serve` (Server) and `mqflux bridge` (Bridge)
// start, report and stop the same parts: the HTTP listener, the pipeline,
// the inputs in order, then what watches the readings (services). Stopping
// runs the other way: the inputs stop acknowledging, the HTTP server ends,
// the pipeline drains to the outputs, the services stop, the inputs close.
type lifecycle struct {
	cfg    Config
	log    *slog.Logger
	front  *front
	pipe   *pipeline.Pipeline
	inputs *inputs
	// services start once the inputs have and stop after the pipeline
	// drained: the alerts of mqflux serve.
	services []service
	// serveFirst serves HTTP before the inputs start, so that /healthz
	// and /metrics tell why nothing arrives while an input waits for its
	// server (mqflux bridge); a failed start then shuts down as a stop
	// does. Otherwise HTTP answers once the inputs have started.
	serveFirst bool
	// running is the log line once ready, e.g. "mqflux serving".
	running string
	started time.Time
}

// service is a part that runs beside the inputs and stops after the
// pipeline drained.
type service interface {
	Start()
	Stop() error
}

// run starts every part, calls ready (if not nil) once readings are taken,
// and serves until ctx is cancelled; then it drains (shutdown).
func (l *lifecycle) run(ctx context.Context, ready func()) error {
	ln, err := l.front.listen()
	if err != nil {
		return errors.Join(err, l.pipe.Stop(0), l.inputs.close())
	}
	l.started = time.Now()
	l.pipe.Start()
	var serveErr <-chan error
	if l.serveFirst {
		serveErr = l.front.serve(ln)
	}
	if err := l.inputs.start(ctx); err != nil {
		switch {
		case l.serveFirst && ctx.Err() != nil:
			// Cancelled while an input waited for its server: a stop.
		case l.serveFirst:
			return errors.Join(err, l.shutdown())
		default:
			if ln != nil {
				ln.Close()
			}
			return errors.Join(err, l.inputs.stop(), l.pipe.Stop(0), l.inputs.close())
		}
	}
	for _, s := range l.services {
		s.Start()
	}
	if !l.serveFirst {
		serveErr = l.front.serve(ln)
	}
	if ctx.Err() == nil {
		l.log.Info(l.running, append(l.inputs.describe(), "http", l.cfg.HTTP.Address, "data_dir", l.cfg.DataDir,
			"outputs", outputNames(l.cfg.OutputList()))...)
		if ready != nil {
			ready()
		}
	}
	runErr := wait(ctx, serveErr)
	return errors.Join(runErr, l.shutdown())
}

// shutdown drains: no new acknowledgements, the spool flushed to the
// outputs for at most the longest drain_timeout, what is left kept on disk
// for the next start.
func (l *lifecycle) shutdown() error {
	l.log.Info("shutting down: no new acknowledgements, draining")
	errs := []error{l.inputs.stop(), l.front.shutdown(), l.pipe.Stop(l.cfg.DrainTimeout())}
	// After the pipeline: the readings its observers still had are in the
	// alerts' registry saved now. Notifications not yet accepted wait on
	// disk.
	for i := len(l.services) - 1; i >= 0; i-- {
		errs = append(errs, l.services[i].Stop())
	}
	errs = append(errs, l.inputs.close())
	l.log.Info("shut down")
	return errors.Join(errs...)
}

// partsHealth is what both health answers report of the common parts: the
// outputs, the spool and the inputs.
type partsHealth struct {
	uptime  string
	primary influx
	outputs []outputH
	spool   spoolH
	// outputsDown says which outputs do not store ("" when all do), and
	// inputsDown which inputs take no readings, with why.
	outputsDown string
	inputsDown  []string
	pipeline    pipeline.Health
}

func (l *lifecycle) health() partsHealth {
	ph := l.pipe.Health()
	return partsHealth{
		uptime:      time.Since(l.started).Round(time.Second).String(),
		primary:     primaryInflux(l.cfg, ph),
		outputs:     outputsHealth(l.cfg.OutputList(), ph),
		spool:       spoolH{Records: ph.SpoolRecords, Bytes: ph.SpoolBytes},
		outputsDown: outputsDown(ph),
		inputsDown:  l.inputs.down(),
		pipeline:    ph,
	}
}
