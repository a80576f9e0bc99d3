package notify

import (
	"github.com/mqflux/mqflux/internal/configfile"

	"fmt"
	"sort"
	"strings"
	"sync"
)

// Settings are a kind's own keys of an alerts.notify entry, decoded
// strictly into what the kind's default returned.
type Settings interface {
	// Validate reports every problem by key; it does not read files
	// (a token file may be installed after the configuration is checked).
	Validate(v *configfile.Validator)
}

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

// kind is a Kind with its settings type erased.
type kind struct {
	settings func() Settings
	build    func(Base, Settings, Env) (Notifier, error)
}

// registry is the set of kinds, filled by each kind's init. It is the one
// package-level table of the package, as database/sql's drivers are: a
// kind is known by being linked in.
var registry = struct {
	sync.RWMutex
	kinds map[string]kind
}{kinds: map[string]kind{}}

// Register makes a kind of notifier known under name, from its file's
// init. It panics when name is empty or taken, or k lacks a function:
// two kinds under one name are a programming error.
func Register[S Settings](name string, k Kind[S]) {
	if name == "" || k.Default == nil || k.New == nil {
		panic(fmt.Sprintf("notify: Register %q: a kind needs a name, Default and New", name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.kinds[name]; dup {
		panic(fmt.Sprintf("notify: Register called twice for kind %q", name))
	}
	registry.kinds[name] = kind{
		settings: func() Settings { return k.Default() },
		build: func(b Base, s Settings, env Env) (Notifier, error) {
			typed, ok := s.(S)
			if !ok {
				return nil, fmt.Errorf("notifier %s: settings of type %T, want %T", b.name, s, typed)
			}
			return k.New(b, typed, env)
		},
	}
}

func lookup(name string) (kind, bool) {
	registry.RLock()
	defer registry.RUnlock()
	k, ok := registry.kinds[name]
	return k, ok
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.kinds))
	for k := range registry.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unknownKind(name string) string {
	return fmt.Sprintf("%q is not a kind of notifier; known kinds: %s", name, strings.Join(Kinds(), ", "))
}
