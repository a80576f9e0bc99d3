package notify

import (
	"fmt"

	"github.com/mqflux/mqflux/internal/kinds"
)

// Settings are a kind's own keys of an alerts.notify entry, decoded
// strictly into what the kind's Default returned. Validate does not read
// files: a token file may be installed after the configuration is
// checked.
type Settings = kinds.Settings

// Env is what the server lends notifiers when it builds them.
type Env struct {
	// Publisher publishes through the embedded broker (the mqtt kind);
	// nil where there is none.
	Publisher Publisher
}

// Kind is what a kind of notifier registers: its settings with their
// defaults, and how to build a notifier from them. S is a pointer to the
// kind's settings struct.
type Kind[S Settings] struct {
	// Default returns new settings holding the kind's defaults; the
	// entry's keys other than name and kind are decoded into it.
	Default func() S
	// New builds the notifier; base carries its name and kind.
	New func(base Base, s S, env Env) (Notifier, error)
}

type build = func(Base, Settings, Env) (Notifier, error)

// registry is the set of kinds, filled by each kind's init: a kind is
// known by being linked in.
var registry = kinds.New[build]("notifier")

// Register makes a kind of notifier known under name, from its file's
// init. It panics when name is empty or taken, or k lacks a function.
func Register[S Settings](name string, k Kind[S]) {
	if k.Default == nil || k.New == nil {
		panic(fmt.Sprintf("register notifier kind %q: a kind needs Default and New", name))
	}
	registry.Register(name, func() Settings { return k.Default() }, func(b Base, s Settings, env Env) (Notifier, error) {
		typed, ok := s.(S)
		if !ok {
			return nil, fmt.Errorf("settings of type %T, want %T", s, typed)
		}
		return k.New(b, typed, env)
	})
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string { return registry.Names() }
