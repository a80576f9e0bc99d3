package configfile

import (
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	cfg := testDefaults()
	cases := []struct{ path, want, err string }{
		{path: "name", want: "default"},
		{path: "max", want: "64KiB"},
		{path: "inner.addr", want: ":1"},
		{path: "list", want: "[a]"},
		{path: "flat", want: ""},
		{path: "nope", err: `unknown key "nope"`},
		{path: "inner.nope", err: `unknown key "nope"`},
		{path: "name.deeper", err: `"deeper" has no keys below it`},
	}
	for _, tc := range cases {
		got, err := Lookup(&cfg, tc.path)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Lookup(%q) error %v, want %q", tc.path, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Lookup(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

func TestKeysListsEveryLeafInOrder(t *testing.T) {
	var paths []string
	for _, k := range Keys(testDefaults()) {
		paths = append(paths, k.Path)
		if k.Env != EnvName(k.Path) {
			t.Errorf("%s: Env %s, want %s", k.Path, k.Env, EnvName(k.Path))
		}
	}
	want := "name count ratio on wait max list tags inner.addr inner.n items flat"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("Keys = %s\nwant   %s", got, want)
	}
	for _, k := range Keys(testDefaults()) {
		if k.Path == "max" && k.Value != "64KiB" {
			t.Errorf("max = %s, want 64KiB", k.Value)
		}
	}
}
