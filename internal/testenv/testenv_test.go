package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestModuleRoot(t *testing.T) {
	root := ModuleRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "module github.com/mqflux/mqflux\n"; string(b[:len(want)]) != want {
		t.Fatalf("%s/go.mod starts %q, want %q", root, b[:len(want)], want)
	}
}

func TestFreePortBinds(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d from FreePort cannot be bound: %v", port, err)
	}
	l.Close()
}

func TestRequireCommandFindsSh(t *testing.T) {
	if p := RequireCommand(t, "sh"); !filepath.IsAbs(p) {
		t.Fatalf("RequireCommand(sh) = %q, want an absolute path", p)
	}
}
