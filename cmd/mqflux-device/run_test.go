package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("device: {id: pi-1, sensors: [{kind: cpu_temp}]}\n"), 0o644)
	os.WriteFile(bad, []byte("device:\n  id: pi 1\n  sensors: [{kind: sim, bus: '2'}]\n"), 0o644)
	cases := []struct {
		name       string
		args       []string
		wantErr    bool
		wantOut    []string
		wantStderr []string
	}{
		{"version", []string{"version"}, false, []string{"mqflux-device dev " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}, nil},
		{"help", []string{"-h"}, false, []string{"Usage:", "check-config", "-config string"}, nil},
		{"check good config", []string{"check-config", "-config", good}, false, []string{"ok"}, nil},
		{"check bad config", []string{"check-config", "-config", bad}, true,
			[]string{`device.id: "pi 1" is not a device id`, "device.sensors[0].bus: not used by kind sim"}, nil},
		{"missing config", []string{"-config", filepath.Join(dir, "none.yaml")}, true, nil, nil},
		{"unknown command", []string{"frobnicate"}, true, nil, []string{`unknown command "frobnicate"`}},
		{"unknown flag", []string{"-frob"}, true, nil, []string{"flag provided but not defined: -frob", "Usage:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout %q lacks %q", out.String(), w)
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q lacks %q", errOut.String(), w)
				}
			}
		})
	}
}

func TestMissingConfigNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.yaml")
	err := run(context.Background(), []string{"-config", path}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v; want it to name %s", err, path)
	}
}
