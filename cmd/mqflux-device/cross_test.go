package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

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

// simRun runs the binary for a few sim readings, a log line from a
// followed file (its inode and offset read through the target's stat
// structure) and the entries of a recorded `journalctl -o json` stream; it
// stops the agent with SIGTERM, appends to both, starts it again and checks
// that every line was sent once: the file from its saved offset, the
// journal after its saved cursor.
//
// Under qemu-user starting journalctl is not what it is on a Pi: qemu 7.2
// refuses Go's clone(CLONE_PIDFD) probe (so the child is waited for by
// pid) and turns clone(CLONE_VM|CLONE_VFORK) into a fork of the whole
// emulator, every thread but the caller gone in the child. A lock another
// emulated thread held at that instant stays held in the child, which then
// hangs before its exec, holding the agent's files; qemu 7.2.19 fixed the
// one known such lock (its fd translation table). The fake journalctl is
// a #! script: qemu passes the exec to the host kernel, which runs it
// natively, as on a Pi.
func simRun(t *testing.T, b *testenv.Mosquitto, qemu, bin, id string) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "device.yaml")
	logFile := filepath.Join(dir, "app.log")
	fixture := filepath.Join(dir, "journal.jsonl")
	writeOrFail(t, logFile, "", os.O_TRUNC)
	writeOrFail(t, fixture, journalEntries(1, 2), os.O_TRUNC)
	journalctl, argsLog := fakeJournalctl(t, dir, fixture)
	writeOrFail(t, cfg, fmt.Sprintf(`device:
  id: %s
  broker: %s
  queue: {dir: %s}
  sensors:
    - {kind: sim, measurement: temperature, interval: 200ms, seed: 3}
    - {kind: disk, path: %s, interval: 200ms}
  logs:
    files: [{path: %s}]
    journal: {enabled: true, command: %s}
`, id, "tcp://"+b.Addr, filepath.Join(dir, "queue"), dir, logFile, journalctl), os.O_TRUNC)
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
	writeOrFail(t, logFile, "qemu file line 1\n", os.O_APPEND)
	want := []string{"qemu file line 1", "journal entry 1", "journal entry 2"}
	waitLogLines(t, sub, id, agent, want)
	stop(t, b, agent, id)

	writeOrFail(t, fixture, journalEntries(3, 4), os.O_APPEND)
	writeOrFail(t, logFile, "qemu file line 2\n", os.O_APPEND)
	agent = testenv.StartProcess(t, nil, qemu, bin, "-config", cfg)
	want = append(want, "qemu file line 2", "journal entry 3", "journal entry 4")
	waitLogLines(t, sub, id, agent, want)
	// A line sent twice would arrive with or right after the new ones;
	// one more batch of readings after them leaves it time to.
	n := len(sub.Lines())
	waitFor(t, "readings after the log lines", func() bool { return len(sub.Lines()) >= n+4 })
	stop(t, b, agent, id)
	for msg, n := range logMessages(t, sub, id) {
		if n != 1 {
			t.Errorf("%q sent %d times across the restart, want once", msg, n)
		}
	}
	args, _ := os.ReadFile(argsLog)
	if runs := strings.Split(strings.TrimSpace(string(args)), "\n"); len(runs) < 2 || !strings.Contains(runs[len(runs)-1], "--after-cursor=s=1;i=2") {
		t.Errorf("journalctl runs:\n%s\nwant the last after the cursor of entry 2", args)
	}
}

func stop(t *testing.T, b *testenv.Mosquitto, agent *testenv.Process, id string) {
	t.Helper()
	if err := kill(t, agent, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, agent.Log.String())
	}
	if got := retained(t, b, "devices/"+id+"/status"); got != "offline" {
		t.Fatalf("retained status after SIGTERM: %q", got)
	}
}

// waitLogLines waits until every message in want was published on the
// device's log topic. If they never come, it shows what the agent's child
// processes were doing: a fork from the emulated agent stuck before its
// exec is still the qemu binary, holding the agent's files.
func waitLogLines(t *testing.T, sub *testenv.Sub, id string, agent *testenv.Process, want []string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, missing := logMessages(t, sub, id), []string(nil)
		for _, m := range want {
			if got[m] == 0 {
				missing = append(missing, m)
			}
		}
		if missing == nil {
			return
		}
		select {
		case <-agent.Exited():
			t.Fatalf("the agent exited: %v\n%s", agent.Err(), agent.Log.Tail(30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lines %q never came from the emulated binary; its children:\n%s", missing, children(agent.Pid()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// children describes the child processes of pid from /proc: their
// executable, state and the kernel function they wait in.
func children(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, c := range strings.Fields(string(raw)) {
		exe, _ := os.Readlink("/proc/" + c + "/exe")
		cmdline, _ := os.ReadFile("/proc/" + c + "/cmdline")
		wchan, _ := os.ReadFile("/proc/" + c + "/wchan")
		stat, _ := os.ReadFile("/proc/" + c + "/stat")
		fmt.Fprintf(&b, "pid %s exe %s cmdline %q wchan %s stat %s\n", c, exe, strings.ReplaceAll(string(cmdline), "\x00", " "), wchan, stat)
	}
	return b.String()
}

// logMessages counts the messages of the log batches published so far.
func logMessages(t *testing.T, sub *testenv.Sub, id string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, l := range sub.Lines() {
		body, ok := strings.CutPrefix(l, "devices/"+id+"/logs ")
		if !ok {
			continue
		}
		var batch []struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(body), &batch); err != nil {
			t.Fatalf("log batch %q: %v", body, err)
		}
		for _, e := range batch {
			got[e.Message]++
		}
	}
	return got
}

// journalEntries are `journalctl -o json` lines with cursors s=1;i=from
// to s=1;i=to.
func journalEntries(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, `{"__CURSOR":"s=1;i=%d","__REALTIME_TIMESTAMP":"%d","PRIORITY":"6","_SYSTEMD_UNIT":"qemu.service","_PID":"42","MESSAGE":"journal entry %d"}`+"\n",
			i, time.Now().UnixMicro(), i)
	}
	return b.String()
}

// fakeJournalctl writes a script standing in for journalctl (no journald
// runs in a test machine or container): it logs its arguments, prints the
// fixture's entries after --after-cursor (all of them without one), then
// waits as -f does.
func fakeJournalctl(t *testing.T, dir, fixture string) (cmd, argsLog string) {
	t.Helper()
	cmd, argsLog = filepath.Join(dir, "journalctl"), filepath.Join(dir, "args.log")
	writeOrFail(t, cmd, fmt.Sprintf(`#!/bin/sh
echo "$@" >> %[1]s
cursor=""
for a in "$@"; do case "$a" in --after-cursor=*) cursor="${a#--after-cursor=}";; esac; done
if [ -z "$cursor" ]; then cat %[2]s; else grep -F -A 100000 "\"__CURSOR\":\"$cursor\"" %[2]s | tail -n +2; fi
exec sleep 600
`, argsLog, fixture), os.O_TRUNC)
	if err := os.Chmod(cmd, 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, argsLog
}

func writeOrFail(t *testing.T, path, data string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|flag, 0o644)
	if err == nil {
		_, err = f.WriteString(data)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
