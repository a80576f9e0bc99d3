package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/flow/input"
	_ "github.com/mqflux/mqflux/flow/input/all" // every kind of input
	"github.com/mqflux/mqflux/flow/pipeline"
)

// inputs are the sources of readings of one server, started, stopped and
// reported the same way whatever they are (package input).
//
// The first `wait` of them (the built-in ones) start before the server
// reports ready, and a failure stops it. The inputs entries start in the
// background: one whose server is away must not keep the others from
// taking readings; it says so through its health until it starts, and a
// start that fails for good is logged and reported down.
type inputs struct {
	list []input.Input
	wait int
	log  *slog.Logger
	// started counts the inputs started in order (their Start called,
	// failed or not); each of them is stopped once.
	started int
	// cancel ends the background starts; bg waits for them.
	cancel context.CancelFunc
	bg     sync.WaitGroup
	failed sync.Map // input name → error of a background start
}

// Names of the built-in inputs of `mqflux serve`; inputs entries may not
// take them.
const (
	brokerInputName = "mqtt"
	legacyInputName = "http"
)

// configuredInputs builds the inputs entries of cfg by their kinds.
func configuredInputs(cfg Config, pipe *pipeline.Pipeline, log *slog.Logger) ([]input.Input, error) {
	var out []input.Input
	for _, c := range cfg.Inputs {
		in, err := input.New(c, input.Env{
			Sink:    func(source string) input.Sink { return pipe.Sink(source) },
			Wants:   pipe.Wants,
			Logger:  log.With("input", c.ID()),
			DataDir: filepath.Join(cfg.DataDir, "inputs", c.ID()),
		})
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// register adds every input's metrics to reg. An inputs entry's carry
// the label input="<name>": two entries of one kind have the same
// metrics. The built-in inputs' keep the names they always had.
func (ins *inputs) register(reg prometheus.Registerer) error {
	for i, in := range ins.list {
		c, ok := in.(input.Collector)
		if !ok {
			continue
		}
		r := reg
		if i >= ins.wait {
			r = prometheus.WrapRegistererWith(prometheus.Labels{"input": in.Name()}, reg)
		}
		for _, m := range c.Collectors() {
			if err := r.Register(m); err != nil {
				return fmt.Errorf("input %s: register metrics: %w", in.Name(), err)
			}
		}
	}
	return nil
}

// routes adds the routes of the inputs the HTTP listener serves.
func (ins *inputs) routes(mux *http.ServeMux) {
	for _, in := range ins.list {
		if r, ok := in.(input.Router); ok {
			r.Routes(mux)
		}
	}
}

// start starts the first ins.wait inputs in order, up to the first that
// cannot start (stop then stops the ones started, that one included),
// and the others in the background.
func (ins *inputs) start(ctx context.Context) error {
	for _, in := range ins.list[ins.started:ins.wait] {
		ins.started++
		if err := in.Start(ctx); err != nil {
			return fmt.Errorf("input %s: %w", in.Name(), err)
		}
	}
	bgCtx, cancel := context.WithCancel(ctx)
	ins.cancel = cancel
	for _, in := range ins.list[ins.wait:] {
		ins.bg.Add(1)
		go func() {
			defer ins.bg.Done()
			if err := in.Start(bgCtx); err != nil && bgCtx.Err() == nil {
				ins.failed.Store(in.Name(), err)
				ins.log.Error("input cannot start; the other inputs run on", "input", in.Name(), "err", err)
			}
		}()
	}
	return nil
}

// stop ends the background starts, then stops every input started
// acknowledging, the last started first.
func (ins *inputs) stop() error {
	var errs []error
	if ins.cancel != nil {
		ins.cancel()
		ins.bg.Wait()
		for i := len(ins.list) - 1; i >= ins.wait; i-- {
			errs = append(errs, ins.stopOne(ins.list[i]))
		}
		ins.cancel = nil
	}
	for ; ins.started > 0; ins.started-- {
		errs = append(errs, ins.stopOne(ins.list[ins.started-1]))
	}
	return errors.Join(errs...)
}

func (ins *inputs) stopOne(in input.Input) error {
	if err := in.Stop(); err != nil {
		return fmt.Errorf("stop input %s: %w", in.Name(), err)
	}
	return nil
}

// close releases what the inputs hold, once the pipeline has stopped.
func (ins *inputs) close() error {
	var errs []error
	for i := len(ins.list) - 1; i >= 0; i-- {
		if c, ok := ins.list[i].(input.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close input %s: %w", ins.list[i].Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// describe is what the inputs say of themselves, for the log line once
// they run.
func (ins *inputs) describe() []any {
	var out []any
	for _, in := range ins.list {
		if d, ok := in.(input.Describer); ok {
			out = append(out, slog.Group(in.Name(), d.Describe()...))
		}
	}
	return out
}

// down names the inputs that do not take readings, with why.
func (ins *inputs) down() []string {
	var out []string
	for _, in := range ins.list {
		if err, failed := ins.failed.Load(in.Name()); failed {
			out = append(out, fmt.Sprintf("%s: cannot start: %v", in.Name(), err))
			continue
		}
		if h, ok := in.(input.Healther); ok {
			if st := h.Health(); !st.Up {
				out = append(out, in.Name()+": "+st.Detail)
			}
		}
	}
	return out
}

// find is the input named name, or nil.
func (ins *inputs) find(name string) input.Input {
	for _, in := range ins.list {
		if in.Name() == name {
			return in
		}
	}
	return nil
}

// brokerInput is the embedded MQTT broker as an input: its listeners
// start with the other inputs, its drain stops acknowledgements, and it
// closes last, after the pipeline and the alerts (which publish through
// it) stopped.
type brokerInput struct {
	*broker.Broker
	cfg broker.Config
}

func (b *brokerInput) Name() string { return brokerInputName }

// Start opens the listeners.
func (b *brokerInput) Start(context.Context) error { return b.Serve() }

// Stop makes the broker stop acknowledging publishes: a device resends
// what got no PUBACK.
func (b *brokerInput) Stop() error {
	b.Drain()
	return nil
}

// Health is up while every listener accepts connections.
func (b *brokerInput) Health() input.Health {
	if down := notAccepting(b.Listeners()); len(down) > 0 {
		return input.Health{Detail: fmt.Sprintf("MQTT listener %s not accepting connections", strings.Join(down, ", "))}
	}
	return input.Health{Up: true}
}

// Describe names the listeners' addresses.
func (b *brokerInput) Describe() []any {
	return []any{"tcp", b.cfg.TCP, "tls", b.cfg.TLS.Address, "websocket", b.cfg.Websocket}
}

var (
	_ input.Healther  = (*brokerInput)(nil)
	_ input.Describer = (*brokerInput)(nil)
	_ input.Collector = (*brokerInput)(nil)
	_ input.Closer    = (*brokerInput)(nil)
)
