package subscriber

import (
	"github.com/mqflux/mqflux/flow/input"
)

// Kind is the subscriber's kind of input: `mqflux bridge` builds one from
// the bridge section, and an inputs entry {kind: mqtt, name: ..., url:
// ..., filters: [...]} adds one to `mqflux serve`.
const Kind = "mqtt"

func init() {
	input.Register(Kind, input.Kind[*Config]{
		Default: func() *Config { c := DefaultConfig(); return &c },
		New: func(name string, c *Config, env input.Env) (input.Input, error) {
			o := c.Options()
			o.Sink, o.Wants, o.Logger = env.Sink(name), env.Wants, env.Logger.With("component", "subscriber")
			s, err := New(o)
			if err != nil {
				return nil, err
			}
			return &Input{Subscriber: s, name: name}, nil
		},
	})
}

// Input is a Subscriber as an input: started and stopped with the others,
// up while connected.
type Input struct {
	*Subscriber
	name string
}

// Name is the input's name, its readings' source.
func (in *Input) Name() string { return in.name }

// Stop stops acknowledging and disconnects; see Subscriber.Stop.
func (in *Input) Stop() error {
	in.Subscriber.Stop()
	return nil
}

// Health is up while the connection to the broker is.
func (in *Input) Health() input.Health {
	if in.Connected() {
		return input.Health{Up: true}
	}
	return input.Health{Detail: "not connected to the broker " + in.o.URL + "; it keeps the persistent session's messages"}
}

// Describe names the broker, the client id and the filters.
func (in *Input) Describe() []any {
	return []any{"broker", in.o.URL, "client_id", in.o.ClientID, "filters", in.o.Filters}
}

var (
	_ input.Healther  = (*Input)(nil)
	_ input.Describer = (*Input)(nil)
	_ input.Collector = (*Input)(nil)
)
