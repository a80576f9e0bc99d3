package kinds

import (
	"go.yaml.in/yaml/v3"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Seam names the registry an Entry's kinds are registered in. A seam
// declares an empty type whose Registry returns its registry, and its
// entry type as an alias:
//
//	type seam struct{}
//	func (seam) Registry() *kinds.Registry[build] { return registry }
//	type Config = kinds.Entry[seam, build]
type Seam[F any] interface {
	Registry() *Registry[F]
}

// Entry is one configuration entry of a seam: {name?, kind, <the kind's
// keys>}. Its kind decodes the keys other than name and kind strictly into
// its own Settings.
type Entry[S Seam[F], F any] struct {
	Kind string
	// Name tells two entries of one kind apart (metrics, logs, data
	// directories); the kind when empty.
	Name string
	// Settings are the kind's own keys; the kind's defaults when nil.
	Settings Settings
}

func (e *Entry[S, F]) registry() *Registry[F] {
	var s S
	return s.Registry()
}

// ID is the entry's name: Name, or Kind.
func (e *Entry[S, F]) ID() string {
	if e.Name != "" {
		return e.Name
	}
	return e.Kind
}

// UnmarshalYAML reads name and kind, then hands the other keys to the
// kind: an unknown key is reported with its line, under the entry's path.
func (e *Entry[S, F]) UnmarshalYAML(n *yaml.Node) error {
	name, kind, s, err := e.registry().Decode(n)
	if err != nil {
		return err
	}
	*e = Entry[S, F]{Kind: kind, Name: name, Settings: s}
	return nil
}

// Validate checks the entry's kind, name and settings.
func (e *Entry[S, F]) Validate(v *configfile.Validator) {
	e.registry().Validate(v, e.Name, e.Kind, e.Settings)
}

// Resolve is the entry's kind and its settings (the kind's defaults when
// Settings is nil).
func (e *Entry[S, F]) Resolve() (Kind[F], Settings, error) {
	return e.registry().Resolve(e.Kind, e.Settings)
}
