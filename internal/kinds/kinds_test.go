package kinds

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mqflux/mqflux/internal/configfile"
)

type pump struct {
	Rate int `yaml:"rate"`
}

func (p *pump) Validate(v *configfile.Validator) { v.Between("rate", p.Rate, 1, 10) }

func newRegistry() *Registry[func(*pump) string] {
	r := New[func(*pump) string]("pump")
	r.Register("piston", func() Settings { return &pump{Rate: 5} }, func(p *pump) string { return "piston" })
	return r
}

// A name registered twice, or none, panics.
func TestRegisterPanics(t *testing.T) {
	r := newRegistry()
	for _, name := range []string{"piston", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			r.Register(name, func() Settings { return &pump{} }, nil)
		}()
	}
}

// An entry's keys go to its kind's settings over their defaults; every
// problem keeps its place.
func TestDecode(t *testing.T) {
	r := newRegistry()
	decode := func(doc string) (string, string, Settings, error) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
			t.Fatal(err)
		}
		return r.Decode(n.Content[0])
	}
	name, kind, s, err := decode("{kind: piston, name: p1}")
	if err != nil || name != "p1" || kind != "piston" || s.(*pump).Rate != 5 {
		t.Errorf("decode: %q %q %+v %v", name, kind, s, err)
	}
	cases := map[string]string{
		"{kind: piston, rate: x}":      "1:22: rate: want a whole number",
		"{kind: piston, flow: 1}":      "1:16: flow: unknown key; known keys here: rate; and in every entry: kind, name",
		"{kind: gear}":                 `1:8: kind: "gear" is not a kind of pump; known kinds: piston`,
		"{name: p1}":                   "1:1: kind: missing",
		"{kind: piston, kind: piston}": "1:16: kind: key given twice",
		"[piston]":                     "1:1: (top level): want a mapping of keys, got a list",
		"{kind: [piston]}":             "1:8: kind: cannot unmarshal !!seq into string",
	}
	for doc, want := range cases {
		if _, _, _, err := decode(doc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
	var v configfile.Validator
	r.Validate(v.Section("pumps[0]"), "bad name", "piston", &pump{Rate: 11})
	if err := v.Err(); err == nil || !strings.Contains(err.Error(), "pumps[0].name") || !strings.Contains(err.Error(), "pumps[0].rate") {
		t.Errorf("validate: %v", err)
	}
}

type pumpSeam struct{}

func (pumpSeam) Registry() *Registry[func(*pump) string] { return pumps }

var pumps = newRegistry()

// An Entry of a seam decodes through that seam's registry, a list of
// them as a list of entries, and ID falls back to the kind.
func TestEntry(t *testing.T) {
	var list []Entry[pumpSeam, func(*pump) string]
	if err := yaml.Unmarshal([]byte("- {kind: piston}\n- {kind: piston, name: p2, rate: 7}\n"), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID() != "piston" || list[1].ID() != "p2" || list[1].Settings.(*pump).Rate != 7 {
		t.Fatalf("decoded %+v", list)
	}
	k, s, err := list[0].Resolve()
	if err != nil || k.New(s.(*pump)) != "piston" || s.(*pump).Rate != 5 {
		t.Errorf("resolve: %v %+v", err, s)
	}
	var v configfile.Validator
	bad := Entry[pumpSeam, func(*pump) string]{Kind: "piston", Name: "bad name", Settings: &pump{Rate: 0}}
	bad.Validate(v.Section("pumps[0]"))
	if err := v.Err(); err == nil || !strings.Contains(err.Error(), "pumps[0].name") || !strings.Contains(err.Error(), "pumps[0].rate") {
		t.Errorf("validate: %v", err)
	}
	if err := yaml.Unmarshal([]byte("- {kind: gear}\n"), &list); err == nil || !strings.Contains(err.Error(), `"gear" is not a kind of pump`) {
		t.Errorf("unknown kind: %v", err)
	}
}
