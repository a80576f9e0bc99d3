package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// seriesLen is the number of patches in the real series.
func seriesLen(t *testing.T) int {
	t.Helper()
	tr, err := openTree(filepath.Join(testenv.ModuleRoot(t), "third_party", "mochi-mqtt-server"))
	if err != nil {
		t.Fatal(err)
	}
	return len(tr.series)
}

// vendoredCopy copies the real vendored tree, series included, to a
// temporary directory the test may edit.
func vendoredCopy(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		testenv.Missing(t, "git", "install git")
	}
	dst := t.TempDir()
	src := filepath.Join(testenv.ModuleRoot(t), "third_party", "mochi-mqtt-server")
	if err := copyTree(src, dst, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	return dst
}

func appendTo(t *testing.T, file, text string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

const newSection = "\n## A new change\n\nWhat it does.\n\nTests: `TestNothing`.\n\nWhy upstream should take it: it is a test.\n"

// The real tree passes; every kind of hand edit fails the check, which
// names the file.
func TestCheck(t *testing.T) {
	n := seriesLen(t)
	tests := []struct {
		name string
		edit func(t *testing.T, dir string)
		want []string // in the error; none: the check passes
	}{
		{"the vendored tree as it is", func(*testing.T, string) {}, nil},
		{"a vendored file edited by hand", func(t *testing.T, dir string) {
			appendTo(t, filepath.Join(dir, "clients.go"), "\n// edited by hand\n")
		}, []string{"clients.go: differs from upstream + patches", "+// edited by hand"}},
		{"a file no patch makes", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "hooks", "extra.go"), []byte("package hooks\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"hooks/extra.go: in the vendored tree, made by no patch"}},
		{"a file a patch makes, deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "readbuffer.go")); err != nil {
				t.Fatal(err)
			}
		}, []string{"readbuffer.go: in upstream + patches, missing from the vendored tree"}},
		{"an upstream file deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "packets", "codes_test.go")); err != nil {
				t.Fatal(err)
			}
		}, []string{"packets/codes_test.go: in upstream + patches, missing"}},
		{"a PATCHES.md section without its patch", func(t *testing.T, dir string) {
			appendTo(t, filepath.Join(dir, "PATCHES.md"), newSection)
		}, []string{"PATCHES.md: differs", fmt.Sprintf("PATCHES.md has %d sections and patches/ %d patches", n+1, n)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := vendoredCopy(t)
			tt.edit(t, dir)
			tr, err := openTree(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = tr.check(io.Discard)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("check of the unedited tree: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("check passed; want a failure naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// add turns a hand edit plus its PATCHES.md section into the next patch,
// after which the check passes again.
func TestAddWritesTheNextPatch(t *testing.T) {
	dir := vendoredCopy(t)
	appendTo(t, filepath.Join(dir, "clients.go"), "\n// mqflux patch: a new change\n")
	if err := os.WriteFile(filepath.Join(dir, "newfile.go"), []byte("package mqtt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "packets", "codes_test.go")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, filepath.Join(dir, "PATCHES.md"), newSection)
	tr, err := openTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.check(io.Discard); err == nil {
		t.Fatal("check passed before the patch was added")
	}
	next := len(tr.series) + 1
	file, err := tr.add("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(file), fmt.Sprintf("%04d-a-new-change.patch", next); got != want {
		t.Errorf("patch file %s, want %s", got, want)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		fmt.Sprintf("Subject: [PATCH %04d] A new change\n", next),
		"Why upstream should take it: it is a test.",
		"+// mqflux patch: a new change",
		"diff --git a/newfile.go b/newfile.go\nnew file mode 100644",
		"diff --git a/packets/codes_test.go b/packets/codes_test.go\ndeleted file mode 100644",
	} {
		if !strings.Contains(string(b), w) {
			t.Errorf("patch lacks %q", w)
		}
	}
	tr, err = openTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.check(io.Discard); err != nil {
		t.Fatalf("check after add: %v", err)
	}
}

func TestAddWantsOneNewSection(t *testing.T) {
	dir := vendoredCopy(t)
	appendTo(t, filepath.Join(dir, "clients.go"), "\n// undocumented\n")
	tr, err := openTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.add(""); err == nil || !strings.Contains(err.Error(), "add exactly one section") {
		t.Fatalf("add without a new PATCHES.md section: %v", err)
	}
	if after, err := openTree(dir); err != nil || len(after.series) != len(tr.series) {
		t.Fatalf("a patch was written anyway (%v)", err)
	}
}

// A patch marked Upstream-ready that no longer applies to the release on
// its own fails the check, though the series still builds the tree.
func TestCheckUpstreamReadyAppliesAlone(t *testing.T) {
	dir := vendoredCopy(t)
	p := filepath.Join(dir, "patches", "0005-small-waiting-frame.patch")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	marked := strings.Replace(string(b), "\n---\n", "\nUpstream-ready: (not really)\n---\n", 1)
	if err := os.WriteFile(p, []byte(marked), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := openTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = tr.check(io.Discard)
	if err == nil || !strings.Contains(err.Error(), "0005-small-waiting-frame.patch is marked Upstream-ready but does not apply") {
		t.Fatalf("check: %v", err)
	}
}

func TestOpenTreeRefusesABrokenSeries(t *testing.T) {
	tests := []struct {
		name string
		edit func(dir string) error
		want string
	}{
		{"a gap in the numbers", func(dir string) error {
			return os.Rename(filepath.Join(dir, "patches", "0002-pebble-db-accessor.patch"), filepath.Join(dir, "patches", "0000-pebble-db-accessor.patch"))
		}, "expected number 0001"},
		{"a badly named patch", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "patches", "Fix.patch"), nil, 0o644)
		}, "Fix.patch: a patch is named NNNN-short-name.patch"},
		{"no pinned hash", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "patches", "upstream.sum"), nil, 0o644)
		}, "no line \"github.com/mochi-mqtt/server/v2 v2.7.9 h1:\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := vendoredCopy(t)
			if err := tt.edit(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := openTree(dir); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("openTree: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSlug(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"A new change", "a-new-change"},
		{"A client's writer runs only while something is queued", "a-client-s-writer-runs-only-while"},
		{"`Options.Runners`: 64 → 128", "options-runners-64-128"},
		{"—", "change"},
	}
	for _, tt := range tests {
		if got := slug(tt.heading); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
}

// What standalone runs for a patch: its header's tests in the packages it
// touches.
func TestStandaloneReadsThePatch(t *testing.T) {
	dir := filepath.Join(testenv.ModuleRoot(t), "third_party", "mochi-mqtt-server", "patches")
	tests := []struct {
		patch string
		pkgs  []string
		names []string
	}{
		{"0002-pebble-db-accessor.patch", []string{"./hooks/storage/pebble"}, []string{"TestDBSharesTheStore"}},
		{"0003-puback-skips-inflight.patch", []string{"./."}, []string{"TestServerProcessPublishQos1AckSkipsInflight", "TestServerProcessPublishQos1AckFailureKeepsAck"}},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.patch)
		pkgs, err := touchedPackages(p)
		if err != nil {
			t.Fatal(err)
		}
		names, err := namedTests(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(pkgs, " ") != strings.Join(tt.pkgs, " ") || strings.Join(names, " ") != strings.Join(tt.names, " ") {
			t.Errorf("%s: packages %q tests %q, want %q %q", tt.patch, pkgs, names, tt.pkgs, tt.names)
		}
		if ok, err := upstreamReady(p); err != nil || !ok {
			t.Errorf("%s: not marked Upstream-ready (%v)", tt.patch, err)
		}
	}
}
