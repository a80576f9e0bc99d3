package input

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Settings are a kind's own keys of an inputs entry, decoded strictly
// into what the kind's Default returned.
type Settings interface {
	// Validate reports every problem by key.
	Validate(v *configfile.Validator)
}

// Kind is what a kind of input registers. S is a pointer to its settings
// struct.
type Kind[S Settings] struct {
	// Default returns new settings holding the kind's defaults; the
	// entry's keys other than name and kind are decoded into it.
	Default func() S
	// New builds the input; nothing may listen or connect before Start.
	New func(name string, s S, env Env) (Input, error)
}

type kind struct {
	settings func() Settings
	build    func(string, Settings, Env) (Input, error)
}

// registry is the set of kinds, filled by each kind's init: a kind is
// known by being linked in, as database/sql's drivers are.
var registry = struct {
	sync.RWMutex
	kinds map[string]kind
}{kinds: map[string]kind{}}

// Register makes a kind of input known under name, from its package's
// init. It panics when name is empty or taken, or k lacks a function.
func Register[S Settings](name string, k Kind[S]) {
	if name == "" || k.Default == nil || k.New == nil {
		panic(fmt.Sprintf("input: Register %q: a kind needs a name, Default and New", name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.kinds[name]; dup {
		panic(fmt.Sprintf("input: Register called twice for kind %q", name))
	}
	registry.kinds[name] = kind{
		settings: func() Settings { return k.Default() },
		build: func(n string, s Settings, env Env) (Input, error) {
			typed, ok := s.(S)
			if !ok {
				return nil, fmt.Errorf("settings of type %T, want %T", s, typed)
			}
			return k.New(n, typed, env)
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
	known := strings.Join(Kinds(), ", ")
	if known == "" {
		known = "none linked in"
	}
	return fmt.Sprintf("%q is not a kind of input; known kinds: %s", name, known)
}

// Config is one entry of the inputs list: {name?, kind, <the kind's
// keys>}.
type Config struct {
	Kind string
	// Name tells two inputs of one kind apart; the kind when empty.
	Name string
	// Settings are the kind's own keys; its defaults when nil.
	Settings Settings
}

// ID is the input's name: Name, or Kind.
func (c *Config) ID() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Kind
}

// UnmarshalYAML reads name and kind, then hands the other keys to the
// kind, which decodes them strictly.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	e, rest, err := configfile.SplitEntry(n)
	if err != nil {
		return err
	}
	k, ok := lookup(e.Kind)
	if !ok {
		return configfile.NodeError(e.KindNode, "kind", "%s", unknownKind(e.Kind))
	}
	s := k.settings()
	if err := configfile.DecodeNode(rest, s); err != nil {
		return err
	}
	*c = Config{Kind: e.Kind, Name: e.Name, Settings: s}
	return nil
}

func (c *Config) settings(k kind) Settings {
	if c.Settings != nil {
		return c.Settings
	}
	return k.settings()
}

// Validate checks one entry's keys.
func (c *Config) Validate(v *configfile.Validator) {
	k, ok := lookup(c.Kind)
	if !ok {
		v.Add("kind", "%s", unknownKind(c.Kind))
		return
	}
	if c.Name != "" && !configfile.IsName(c.Name) {
		v.Add("name", "%q is not a name (letters, digits, - and _)", c.Name)
	}
	c.settings(k).Validate(v)
}

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
	k, ok := lookup(c.Kind)
	if !ok {
		return nil, fmt.Errorf("input %s: %s", c.ID(), unknownKind(c.Kind))
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	in, err := k.build(c.ID(), c.settings(k), env)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", c.ID(), err)
	}
	return in, nil
}
