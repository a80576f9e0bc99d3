package input

import (
	"testing"

	"github.com/mqflux/mqflux/internal/configfile"
)

type settings struct{}

func (*settings) Validate(*configfile.Validator) {}

// Registering a kind twice, or without a name or functions, is a
// programming error: it panics, as database/sql does for drivers.
func TestRegisterPanics(t *testing.T) {
	k := Kind[*settings]{
		Default: func() *settings { return &settings{} },
		New:     func(name string, _ *settings, _ Env) (Input, error) { return Base{ID: name}, nil },
	}
	Register("twice", k)
	for _, c := range []struct {
		name string
		k    Kind[*settings]
	}{{"twice", k}, {"", k}, {"no-new", Kind[*settings]{Default: k.Default}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", c.name)
				}
			}()
			Register(c.name, c.k)
		}()
	}
	in, err := New(Config{Kind: "twice", Name: "one"}, Env{})
	if err != nil || in.Name() != "one" {
		t.Errorf("New: %v, %v", in, err)
	}
}
