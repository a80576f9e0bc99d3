package configfile

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Each check names the key with the section's path and says what is
// allowed; a check that passes reports nothing.
func TestValidatorChecks(t *testing.T) {
	cases := []struct {
		name  string
		check func(v *Validator)
		want  string // "" means no problem
	}{
		{"non-empty ok", func(v *Validator) { v.NonEmpty("dir", "x") }, ""},
		{"empty", func(v *Validator) { v.NonEmpty("dir", "  ") }, "sec.dir: must not be empty"},
		{"one of ok", func(v *Validator) { v.OneOf("level", "info", "debug", "info") }, ""},
		{"not one of", func(v *Validator) { v.OneOf("level", "loud", "debug", "info") }, `sec.level: "loud" is not allowed; use one of debug, info`},
		{"between ok", func(v *Validator) { v.Between("n", 64, 1, 64) }, ""},
		{"out of range", func(v *Validator) { v.Between("n", 0, 1, 64) }, "sec.n: 0 is out of range; allowed 1 to 64"},
		{"size ok", func(v *Validator) { v.AtLeast("max", 1<<20, 1<<20) }, ""},
		{"size too small", func(v *Validator) { v.AtLeast("max", 1000, 64<<10) }, "sec.max: 1000 is too small; at least 64KiB"},
		{"bytes get a unit", func(v *Validator) { v.AtLeast("max", 100, 256) }, "sec.max: 100 is too small; at least 256B"},
		{"duration ok", func(v *Validator) { v.DurationBetween("d", time.Second, 0, time.Minute) }, ""},
		{"duration out of range", func(v *Validator) { v.DurationBetween("d", time.Hour, 0, time.Minute) }, "sec.d: 1h0m0s is out of range; allowed 0s to 1m0s"},
		{"address ok", func(v *Validator) { v.Address("tcp", "[::1]:1883", false) }, ""},
		{"address disabled", func(v *Validator) { v.Address("tcp", "", true) }, ""},
		{"address required", func(v *Validator) { v.Address("tcp", "", false) }, "sec.tcp: required"},
		{"not host:port", func(v *Validator) { v.Address("tcp", "localhost", true) }, `sec.tcp: "localhost" is not host:port`},
		{"bad port", func(v *Validator) { v.Address("tcp", ":99999", true) }, `sec.tcp: port "99999" is not a number from 0 to 65535`},
		{"the section itself", func(v *Validator) { v.Add("", "all off") }, "sec: all off"},
		{"a list item", func(v *Validator) { v.Add("[2]", "bad") }, "sec[2]: bad"},
		{"a nested section", func(v *Validator) { v.Section("legacy").Add("keys[0]", "bad") }, "sec.legacy.keys[0]: bad"},
		{"a neighbour's key", func(v *Validator) { v.Add("a", "larger than %s", v.Key("b")) }, "sec.a: larger than sec.b"},
		{"a reported error", func(v *Validator) { v.Report(errors.New("mapping.x: bad")) }, "mapping.x: bad"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var root Validator
			tc.check(root.Section("sec"))
			err := root.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected problem: %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidatorCollectsEveryProblem(t *testing.T) {
	var v Validator
	v.NonEmpty("a", "")
	v.Section("s").Between("n", 5, 0, 1)
	v.Add("b", "wrong")
	var p Problems
	if !errors.As(v.Err(), &p) || len(p) != 3 {
		t.Fatalf("Err() = %#v, want 3 Problems", v.Err())
	}
	if !strings.HasPrefix(p[1].Error(), "s.n:") {
		t.Errorf("second problem %q, want it under s.n", p[1])
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"": true, "127.0.0.1:1883": true, "localhost:80": true, "[::1]:8080": true,
		":1883": false, "0.0.0.0:1883": false, "192.168.1.2:1883": false, "nonsense": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestIsName(t *testing.T) {
	for s, want := range map[string]bool{
		"pi-kitchen": true, "a.b_c-1": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a/b": false, "a b": false, "é": false, "+": false,
	} {
		if got := IsName(s); got != want {
			t.Errorf("IsName(%q) = %v, want %v", s, got, want)
		}
	}
}
