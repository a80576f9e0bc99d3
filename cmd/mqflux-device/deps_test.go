package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The agent runs on a Pi Zero: it must not link the server's parts, such
// as bcrypt (password checks), passwd or anything under flow/ (mapping,
// spool, InfluxDB client), which would only grow the binary and its memory.
func TestDeviceLinksNoServerPackages(t *testing.T) {
	targets := []struct{ name, goos, goarch, goarm string }{
		{"host", runtime.GOOS, runtime.GOARCH, ""},
		{"arm6", "linux", "arm", "6"},
		{"arm64", "linux", "arm64", ""},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			deps := listDeps(t, tc.goos, tc.goarch, tc.goarm)
			if len(deps) < 3 {
				t.Fatalf("go list -deps found only %v: not a dependency list", deps)
			}
			for _, d := range deps {
				if forbiddenOnDevice(d) {
					t.Errorf("./cmd/mqflux-device links %s", d)
				}
			}
		})
	}
}

func forbiddenOnDevice(pkg string) bool {
	const mod = "github.com/mqflux/mqflux/"
	return pkg == "golang.org/x/crypto/bcrypt" ||
		pkg == mod+"passwd" ||
		pkg == mod+"flow" || strings.HasPrefix(pkg, mod+"flow/")
}

func TestForbiddenOnDevice(t *testing.T) {
	cases := []struct {
		pkg  string
		want bool
	}{
		{"golang.org/x/crypto/bcrypt", true},
		{"github.com/mqflux/mqflux/passwd", true},
		{"github.com/mqflux/mqflux/flow/mapping", true},
		{"github.com/mqflux/mqflux/flow/ingest", true},
		{"github.com/mqflux/mqflux/internal/configfile", false},
		{"github.com/mqflux/mqflux/device/queue", false},
		{"golang.org/x/crypto/blake2b", false},
		{"github.com/mqflux/mqflux/bridgework", false},
	}
	for _, tc := range cases {
		if got := forbiddenOnDevice(tc.pkg); got != tc.want {
			t.Errorf("forbiddenOnDevice(%q) = %v, want %v", tc.pkg, got, tc.want)
		}
	}
}

// The packages the agent shares with the server for plumbing (retries,
// waits, name checks) must link only the standard library, or they would
// pull the server's dependencies onto the device.
func TestSharedPlumbingLinksOnlyTheStandardLibrary(t *testing.T) {
	for _, pkg := range []string{
		"github.com/mqflux/mqflux/internal/backoff",
		"github.com/mqflux/mqflux/internal/names",
	} {
		deps := goList(t, nil, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg)
		if !slices.Contains(deps, pkg) {
			t.Fatalf("go list -deps %s did not list the package itself: %v", pkg, deps)
		}
		for _, d := range deps {
			if d != pkg {
				t.Errorf("%s links %s, which is not in the standard library", pkg, d)
			}
		}
	}
}

func listDeps(t *testing.T, goos, goarch, goarm string) []string {
	return goList(t, []string{"CGO_ENABLED=0", "GOOS=" + goos, "GOARCH=" + goarch, "GOARM=" + goarm}, "-deps", ".")
}

// goList runs go list with args in the environment plus env.
func goList(t *testing.T, env []string, args ...string) []string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command(goTool, append([]string{"list"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s %v: %v", strings.Join(args, " "), env, err)
	}
	return strings.Fields(string(out))
}
