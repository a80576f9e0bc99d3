package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// KillChild runs this test binary again as a child that runs no test: its
// TestMain sees env and does the work, printing a line "<kind> <id>" on
// stdout for each thing it has done (unbuffered, so that what it printed
// before the kill reaches the parent). KillChild SIGKILLs the child once it
// printed killAfter lines of kind killOn, and returns every id it printed,
// by kind. Only whole lines count: the last one may be torn by the kill.
// The child's stderr goes to the test log.
func KillChild(t testing.TB, env []string, killOn string, killAfter int) map[string]map[int64]bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[int64]bool{killOn: {}}
	killed := false
	watchdog := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		kind, num, ok := strings.Cut(sc.Text(), " ")
		id, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			continue
		}
		if seen[kind] == nil {
			seen[kind] = map[int64]bool{}
		}
		seen[kind][id] = true
		if !killed && len(seen[killOn]) >= killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
	return seen
}

// logWriter writes a child's output to the test log, line by line.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// KillRecord is the record a KillChild child appends for id: one line of
// text, so that a record recovered after the kill can be checked whole.
func KillRecord(id int64) []byte { return fmt.Appendf(nil, "kill id=%d\n", id) }

// ParseKillRecord returns the id of a KillRecord; false for anything else,
// such as a record that was never appended or one recovered torn.
func ParseKillRecord(r []byte) (int64, bool) {
	s, ok := strings.CutPrefix(string(r), "kill id=")
	if !ok || !strings.HasSuffix(s, "\n") {
		return 0, false
	}
	id, err := strconv.ParseInt(strings.TrimSuffix(s, "\n"), 10, 64)
	return id, err == nil
}
