// Package natsinput is input kind nats: readings taken from a replicated
// NATS JetStream stream through one durable pull consumer that every
// mqflux instance shares, so NATS splits the work among them. Devices
// publish over MQTT to any nats-server node (its MQTT gateway turns the
// topic into a subject, see TopicToSubject); a stream on devices.>
// captures what they publish. A message is acknowledged to NATS only once
// the spool took it (or dead-lettered it); on a full spool it is handed
// back with a delay (NAK), and whatever was not acknowledged NATS hands
// out again, to this instance or another.
package natsinput

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqflux/mqflux/flow/input"
)

// Kind is the name of this kind of input.
const Kind = "nats"

// mqttStream is nats-server's own store of MQTT QoS 1 and 2 messages; a
// message stored there has the subject mqttStreamPrefix + the topic's
// subject.
const (
	mqttStream       = "$MQTT_msgs"
	mqttStreamPrefix = "$MQTT.msgs."
)

func init() {
	input.Register(Kind, input.Kind[*Config]{
		Default: func() *Config { c := DefaultConfig(); return &c },
		New: func(name string, c *Config, env input.Env) (input.Input, error) {
			return New(name, *c, env.Sink(name), env.Wants, env.Logger.With("component", "nats")), nil
		},
	})
}

// Input consumes the stream; see the package doc.
type Input struct {
	input.Base
	c     Config
	sink  input.Sink
	wants func(string) bool
	log   *slog.Logger
	m     *metrics

	mu     sync.Mutex
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
	ready  atomic.Bool
}

// New builds an input; nothing connects before Start.
func New(name string, c Config, sink input.Sink, wants func(string) bool, log *slog.Logger) *Input {
	if wants == nil {
		wants = func(string) bool { return true }
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Input{Base: input.Base{ID: name}, c: c, sink: sink, wants: wants, log: log, m: newMetrics()}
}

// Start connects, creates or checks the stream and the durable consumer,
// and starts fetching. It retries an unreachable cluster until ctx ends.
func (in *Input) Start(ctx context.Context) error {
	opts, err := in.options()
	if err != nil {
		return err
	}
	wait := 500 * time.Millisecond
	for {
		cons, nc, err := in.connect(ctx, opts)
		if err == nil {
			in.run(nc, cons)
			return nil
		}
		in.log.Warn("NATS not ready; retrying", "urls", in.c.URLs, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats %v: %w", in.c.URLs, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (in *Input) options() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("mqflux " + in.Name()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { in.log.Warn("disconnected from NATS", "err", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { in.log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted()) }),
	}
	switch {
	case in.c.Creds != "":
		opts = append(opts, nats.UserCredentials(in.c.Creds))
	case in.c.User != "":
		b, err := os.ReadFile(in.c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("nats.password_file: %w", err)
		}
		opts = append(opts, nats.UserInfo(in.c.User, strings.TrimRight(string(b), "\r\n")))
	}
	return opts, nil
}

func (in *Input) connect(ctx context.Context, opts []nats.Option) (jetstream.Consumer, *nats.Conn, error) {
	nc, err := nats.Connect(strings.Join(in.c.URLs, ","), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cons, err := in.setup(cctx, nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return cons, nc, nil
}

// run fetches on its own goroutine until Stop.
func (in *Input) run(nc *nats.Conn, cons jetstream.Consumer) {
	ctx, cancel := context.WithCancel(context.Background())
	in.mu.Lock()
	in.nc, in.cancel, in.done = nc, cancel, make(chan struct{})
	done := in.done
	in.mu.Unlock()
	in.ready.Store(true)
	go func() {
		defer close(done)
		in.fetchLoop(ctx, cons)
	}()
}

// Stop stops acknowledging: the batch being spooled is finished and
// acknowledged, what was fetched and not yet spooled is handed back, and
// the connection closes.
func (in *Input) Stop() error {
	in.mu.Lock()
	nc, cancel, done := in.nc, in.cancel, in.done
	in.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	in.ready.Store(false)
	// Flush sends the last acknowledgements and NAKs before the close.
	_ = nc.FlushTimeout(5 * time.Second)
	nc.Close()
	return nil
}

// Health is up while connected and consuming.
func (in *Input) Health() input.Health {
	in.mu.Lock()
	nc := in.nc
	in.mu.Unlock()
	if in.ready.Load() && nc != nil && nc.IsConnected() {
		return input.Health{Up: true}
	}
	return input.Health{Detail: fmt.Sprintf("not consuming stream %s from NATS %v; the stream keeps the readings", in.c.Stream, in.c.URLs)}
}

// Describe names the cluster, the stream and the consumer.
func (in *Input) Describe() []any {
	return []any{"nats", in.c.URLs, "stream", in.c.Stream, "consumer", in.c.Consumer, "subjects", in.c.Subjects}
}

var (
	_ input.Healther  = (*Input)(nil)
	_ input.Describer = (*Input)(nil)
	_ input.Collector = (*Input)(nil)
)
