package input

import (
	"fmt"
	"log/slog"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/internal/kinds"
)

// Settings are a kind's own keys of an inputs entry, decoded strictly
// into what the kind's Default returned.
type Settings = kinds.Settings

// Kind is what a kind of input registers. S is a pointer to its settings
// struct.
type Kind[S Settings] struct {
	// Default returns new settings holding the kind's defaults; the
	// entry's keys other than name and kind are decoded into it.
	Default func() S
	// New builds the input; nothing may listen or connect before Start.
	New func(name string, s S, env Env) (Input, error)
}

type build = func(string, Settings, Env) (Input, error)

// registry is the set of kinds, filled by each kind's init: a kind is
// known by being linked in (package all links every one).
var registry = kinds.New[build]("input")

// Register makes a kind of input known under name, from its package's
// init. It panics when name is empty or taken, or k lacks a function.
func Register[S Settings](name string, k Kind[S]) {
	if k.Default == nil || k.New == nil {
		panic(fmt.Sprintf("register input kind %q: a kind needs Default and New", name))
	}
	registry.Register(name, func() Settings { return k.Default() }, func(n string, s Settings, env Env) (Input, error) {
		typed, ok := s.(S)
		if !ok {
			return nil, fmt.Errorf("settings of type %T, want %T", s, typed)
		}
		return k.New(n, typed, env)
	})
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string { return registry.Names() }

// Config is one entry of the inputs list: {name?, kind, <the kind's
// keys>}. Name tells two inputs of one kind apart; ID is Name, or Kind.
type Config = kinds.Entry[seam, build]

// seam ties Config to the registry of input kinds.
type seam struct{}

func (seam) Registry() *kinds.Registry[build] { return registry }

// Validate checks a list of inputs: each entry, and that no two share a
// name (or a built-in input's name, in reserved).
func Validate(v *configfile.Validator, list []Config, reserved ...string) {
	names := map[string]bool{}
	for _, r := range reserved {
		names[r] = true
	}
	for i := range list {
		c := &list[i]
		iv := v.Section(fmt.Sprintf("[%d]", i))
		c.Validate(iv)
		if names[c.ID()] {
			iv.Add("name", "%q is taken: give this input a name of its own", c.ID())
		}
		names[c.ID()] = true
	}
}

// New builds the input c describes.
func New(c Config, env Env) (Input, error) {
	k, s, err := c.Resolve()
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", c.ID(), err)
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	in, err := k.New(c.ID(), s, env)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", c.ID(), err)
	}
	return in, nil
}
