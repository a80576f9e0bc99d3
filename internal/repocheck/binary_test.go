package repocheck

import (
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecutableFormat(t *testing.T) {
	pe := make([]byte, 0x90)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	mzText := make([]byte, 0x90)
	copy(mzText, "MZ is how this line starts, and it is text")

	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"ELF", []byte("\x7fELF\x02\x01\x01\x00"), "ELF"},
		{"Mach-O 64", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, "Mach-O"},
		{"Mach-O fat", []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2}, "Mach-O"},
		{"PE", pe, "PE"},
		{"text starting with MZ", mzText, ""},
		{"Go source", []byte("package main\n"), ""},
		{"shell script", []byte("#!/usr/bin/env bash\n"), ""},
		{"empty", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExecutableFormat(tc.head); got != tc.want {
				t.Fatalf("ExecutableFormat = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestNoExecutableIsTracked fails when a built binary was committed (a
// `go build` in the checkout's root writes ./mqflux, which .gitignore now
// names): binaries are built by make, never kept in git.
func TestNoExecutableIsTracked(t *testing.T) {
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dir := strings.TrimSpace(string(root))
	out, err := exec.Command("git", "-C", dir, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	head := make([]byte, 512)
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue // deleted in the work tree, or a submodule
		}
		n, _ := io.ReadFull(f, head)
		f.Close()
		if format := ExecutableFormat(head[:n]); format != "" {
			t.Errorf("%s is a tracked %s executable: remove it from git (binaries are built by make)", name, format)
		}
	}
}
