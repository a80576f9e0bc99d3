package server

import (
	"os"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/configfile"
)

// The README's configuration table and the shipped config.yaml must name
// every key there is.
func TestDocsNameEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	for _, k := range configfile.Keys(&c) {
		if !strings.Contains(string(readme), "`"+k.Path+"`") {
			t.Errorf("README.md does not document %s", k.Path)
		}
		leaf := k.Path[strings.LastIndex(k.Path, ".")+1:]
		if !strings.Contains(string(shipped), leaf+":") {
			t.Errorf("config.yaml does not show %s", k.Path)
		}
	}
}

// The shipped config.yaml holds exactly the defaults, apart from its demo
// users and key.
func TestShippedConfigIsTheDefaults(t *testing.T) {
	got := DefaultConfig()
	if _, err := configfile.LoadFile("../config.yaml", &got, nil); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	got.Broker.Users, got.HTTP.Legacy.Keys = nil, nil
	gk, wk := configfile.Keys(&got), configfile.Keys(&want)
	for i := range wk {
		if gk[i] != wk[i] {
			t.Errorf("config.yaml has %s = %s, the default is %s", gk[i].Path, gk[i].Value, wk[i].Value)
		}
	}
}
