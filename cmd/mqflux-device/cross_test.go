package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// TestCrossBuildsRunUnderQemu builds the Pi binaries the README tells
// users to copy, and runs each under qemu-user against a local mosquitto.
func TestCrossBuildsRunUnderQemu(t *testing.T) {
	if testing.Short() {
		t.Skip("cross builds take a while with a cold build cache")
	}
	targets := []struct {
		name, goarch, goarm, qemu, want string
	}{
		{"arm6", "arm", "6", "qemu-arm-static", "linux/arm"},
		{"arm64", "arm64", "", "qemu-aarch64-static", "linux/arm64"},
	}
	b := newBroker(t)
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			qemu := testenv.RequireCommand(t, tc.qemu)
			bin := crossBuild(t, tc.goarch, tc.goarm)
			out, err := exec.Command(qemu, bin, "version").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "mqflux-device cross-test ") || !strings.Contains(string(out), tc.want) {
				t.Fatalf("version under %s: %q, %v", tc.qemu, out, err)
			}
			simRun(t, b, qemu, bin, "qemu-"+tc.name)
		})
	}
}

func crossBuild(t *testing.T, goarch, goarm string) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	bin := filepath.Join(t.TempDir(), "mqflux-device")
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags", "-s -w -X main.version=cross-test", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOARM="+goarm)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build GOARCH=%s GOARM=%s: %v\n%s", goarch, goarm, err, out)
	}
	return bin
}

// simRun runs the binary for a few sim readings and a log line from a
// followed file (its inode and offset read through the target's stat
// structure), and stops it with SIGTERM. The journal is left out here:
// under qemu-user a fork from the emulated, multithreaded agent can hang in
// the child before its exec (seen once with qemu-arm-static: the child held
// the agent's files and never ran journalctl), which says nothing of a Pi;
// the journal source is tested natively.
func simRun(t *testing.T, b *testenv.Mosquitto, qemu, bin, id string) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "device.yaml")
	logFile := filepath.Join(dir, "app.log")
	os.WriteFile(logFile, nil, 0o644)
	os.WriteFile(cfg, []byte(fmt.Sprintf(`device:
  id: %s
  broker: %s
  queue: {dir: %s}
  sensors:
    - {kind: sim, measurement: temperature, interval: 200ms, seed: 3}
    - {kind: disk, path: %s, interval: 200ms}
  logs:
    files: [{path: %s}]
`, id, "tcp://"+b.Addr, filepath.Join(dir, "queue"), dir, logFile)), 0o644)
	sub := subscribe(t, b, "devices/"+id+"/#")
	agent := testenv.StartProcess(t, nil, qemu, bin, "-config", cfg)
	waitFor(t, "5 readings of each sensor from the emulated binary", func() bool {
		var temp, disk int
		for _, l := range sub.Lines() {
			temp += b2i(strings.HasPrefix(l, "devices/"+id+"/sensors/temperature {\"value\":"))
			disk += b2i(strings.HasPrefix(l, "devices/"+id+"/sensors/disk_used_percent {\"value\":"))
		}
		return temp >= 5 && disk >= 5
	})
	waitFor(t, "the emulated binary following app.log", func() bool { return strings.Contains(agent.Log.String(), "following log file") })
	if f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0); err == nil {
		f.WriteString("qemu file line\n")
		f.Close()
	}
	waitFor(t, "the file's line from the emulated binary", func() bool {
		for _, l := range sub.Lines() {
			if strings.HasPrefix(l, "devices/"+id+"/logs [") && strings.Contains(l, `"message":"qemu file line","tags":{"unit":"app.log"}`) {
				return true
			}
		}
		return false
	})
	if err := kill(t, agent, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, agent.Log.String())
	}
	if got := retained(t, b, "devices/"+id+"/status"); got != "offline" {
		t.Fatalf("retained status after SIGTERM: %q", got)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
