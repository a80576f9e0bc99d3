// Package kinds is the registry behind the seams whose parts register
// themselves, as database/sql's drivers do: a notifier kind, an input
// kind. A kind has settings (the keys of a configuration entry
// {name?, kind, <the kind's keys>}, with their defaults and a Validate)
// and a constructor of the seam's own type F. Each seam keeps one
// Registry and wraps it with its own typed Register.
package kinds

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Settings are a kind's own keys, decoded strictly into what the kind's
// default returned.
type Settings interface {
	// Validate reports every problem by key.
	Validate(v *configfile.Validator)
}

// Kind is one registered kind: new settings holding its defaults, and
// its constructor.
type Kind[F any] struct {
	Settings func() Settings
	New      F
}

// Registry maps kind names to kinds. It is safe for concurrent use.
type Registry[F any] struct {
	what  string // "notifier", "input": for messages
	mu    sync.RWMutex
	kinds map[string]Kind[F]
}

// New returns an empty registry of kinds of what.
func New[F any](what string) *Registry[F] {
	return &Registry[F]{what: what, kinds: map[string]Kind[F]{}}
}

// Register adds a kind. It panics when name is empty or taken, or
// settings is nil: two kinds under one name are a programming error.
func (r *Registry[F]) Register(name string, settings func() Settings, build F) {
	if name == "" || settings == nil {
		panic(fmt.Sprintf("register %s kind %q: a kind needs a name and its settings", r.what, name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.kinds[name]; dup {
		panic(fmt.Sprintf("register %s kind %q: registered twice", r.what, name))
	}
	r.kinds[name] = Kind[F]{Settings: settings, New: build}
}

// Lookup returns the kind registered under name.
func (r *Registry[F]) Lookup(name string) (Kind[F], bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the registered kinds, sorted.
func (r *Registry[F]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Unknown says that name is no registered kind, listing those that are.
func (r *Registry[F]) Unknown(name string) string {
	known := strings.Join(r.Names(), ", ")
	if known == "" {
		known = "none linked in"
	}
	return fmt.Sprintf("%q is not a kind of %s; known kinds: %s", name, r.what, known)
}

// Decode reads an entry {name?, kind, <the kind's keys>} for an
// UnmarshalYAML, as the loader reads any entry (configfile.Extensible):
// the kind's keys are decoded strictly into its default settings, and
// every problem keeps its line and key.
func (r *Registry[F]) Decode(n *yaml.Node) (name, kind string, s Settings, err error) {
	e := entry[F]{registry: r}
	if err := configfile.DecodeNode(n, &e); err != nil {
		return "", "", nil, err
	}
	return e.Name, e.Kind, e.settings, nil
}

// entry is an entry as the loader reads it: its name and kind, then the
// kind's keys into the kind's settings.
type entry[F any] struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`

	registry *Registry[F]
	settings Settings
}

// Extension is where the entry's other keys go: new settings of its kind.
func (e *entry[F]) Extension() (any, error) {
	s, err := e.registry.Settings(e.Kind)
	e.settings = s
	return s, err
}

// Settings returns new settings holding the defaults of kind, or, when
// there is no such kind, an error about the entry's kind key.
func (r *Registry[F]) Settings(kind string) (Settings, error) {
	if kind == "" {
		return nil, configfile.KeyError("kind", "missing: every entry names its kind")
	}
	k, ok := r.Lookup(kind)
	if !ok {
		return nil, configfile.KeyError("kind", "%s", r.Unknown(kind))
	}
	return k.Settings(), nil
}

// Resolve is the kind of an entry and its settings: s, or the kind's
// defaults when s is nil (an entry built in Go rather than decoded).
func (r *Registry[F]) Resolve(kind string, s Settings) (Kind[F], Settings, error) {
	k, ok := r.Lookup(kind)
	if !ok {
		return Kind[F]{}, nil, fmt.Errorf("%s", r.Unknown(kind))
	}
	if s == nil {
		s = k.Settings()
	}
	return k, s, nil
}

// Validate checks an entry: its kind, its name, its settings.
func (r *Registry[F]) Validate(v *configfile.Validator, name, kind string, s Settings) {
	_, s, err := r.Resolve(kind, s)
	if err != nil {
		v.Add("kind", "%v", err)
		return
	}
	if name != "" && !configfile.IsName(name) {
		v.Add("name", "%q is not a name (letters, digits, - and _)", name)
	}
	s.Validate(v)
}
