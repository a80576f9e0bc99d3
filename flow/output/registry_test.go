package output

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/mqflux/mqflux/internal/configfile"
)

type nopConfig struct{}

func (nopConfig) Validate(*configfile.Validator) {}

type nopOutput struct{}

func (nopOutput) Write(context.Context, [][]byte) ([]Rejected, error) { return nil, nil }

var nopKind = Kind{
	DefaultConfig: func() Config { return nopConfig{} },
	New:           func(string, Config, *slog.Logger) (Output, error) { return nopOutput{}, nil },
}

// A kind is found by its name once registered; a second registration of
// the name, or an incomplete kind, panics at once.
func TestRegister(t *testing.T) {
	Register("registry-test-a", nopKind)
	if _, ok := Lookup("registry-test-a"); !ok {
		t.Fatal("registry-test-a not found after Register")
	}
	if _, ok := Lookup("registry-test-none"); ok {
		t.Error("found a kind never registered")
	}
	if !slices.Contains(Kinds(), "registry-test-a") || !slices.IsSorted(Kinds()) {
		t.Errorf("Kinds() = %v, want registry-test-a among them, sorted", Kinds())
	}
	cases := []struct {
		name string
		kind string
		k    Kind
	}{
		{"twice", "registry-test-a", nopKind},
		{"no name", "", nopKind},
		{"no New", "registry-test-b", Kind{DefaultConfig: nopKind.DefaultConfig}},
		{"no DefaultConfig", "registry-test-c", Kind{New: nopKind.New}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tc.kind)
				}
			}()
			Register(tc.kind, tc.k)
		})
	}
}

// A Config without the optional interfaces is fed with the defaults and
// describes nothing.
func TestOptionalConfigInterfaces(t *testing.T) {
	if f := FeedOf(nopConfig{}); f != (Feed{}) {
		t.Errorf("FeedOf = %+v, want zero", f)
	}
	if d := Describe(nopConfig{}); d.Target != "" || d.Details != nil {
		t.Errorf("Describe = %+v, want empty", d)
	}
}
