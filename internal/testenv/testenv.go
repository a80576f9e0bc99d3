// Package testenv starts the real outside components mqflux's tests run
// against (an InfluxDB server, a Mosquitto broker) and holds the small helpers
// those tests share. A missing component fails the test when CI=true and skips
// it otherwise, so a developer machine without the tools still runs the rest.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI, where nothing may be skipped for a
// missing tool.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing ends the test because an outside component is not installed: a
// failure in CI, a skip elsewhere. how tells the reader how to get it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s not found (CI=true, so this is a failure): %s", what, how)
	}
	t.Skipf("%s not found: %s", what, how)
}

// ModuleRoot returns the directory holding go.mod, found by walking up from
// the test's working directory (go test runs in the package directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("module root: working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// RequireCommand returns the path of an executable on $PATH, or ends the test
// through Missing.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "install it (see the README: make tools, or its Debian package)")
	}
	return path
}

// WaitFor polls cond until it holds, failing the test if within passes
// first. Deadlines are generous: a loaded CI machine is slow, and passing
// never depends on speed.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
