package spool

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	crashDirEnv = "MQFLUX_SPOOL_CRASH_DIR"
	crashDurEnv = "MQFLUX_SPOOL_CRASH_DURABILITY"
)

func crashRecord(id int64) []byte { return fmt.Appendf(nil, "crash id=%d\n", id) }

func parseCrashRecord(r []byte) (int64, bool) {
	s, ok := strings.CutPrefix(string(r), "crash id=")
	if !ok || !strings.HasSuffix(s, "\n") {
		return 0, false
	}
	id, err := strconv.ParseInt(strings.TrimSuffix(s, "\n"), 10, 64)
	return id, err == nil
}

// TestMain turns the test binary into the child of TestCrashKill when the
// environment asks for it.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir, os.Getenv(crashDurEnv))
		os.Exit(2) // crashChild returns only on failure
	}
	os.Exit(m.Run())
}

// crashChild appends and acks as fast as it can, printing "S id" once Append
// returned nil for a record and "A id" once the batch holding it was acked,
// until it is killed.
func crashChild(dir, durability string) {
	dur, err := ParseDurability(durability)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	s, err := Open(Options{Dir: dir, Durability: dur, SegmentBytes: 64 << 10,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	var out sync.Mutex
	report := func(kind byte, ids []int64) {
		var line []byte
		for _, id := range ids {
			line = fmt.Appendf(line, "%c %d\n", kind, id)
		}
		out.Lock()
		os.Stdout.Write(line) // unbuffered: once written, the parent will see it
		out.Unlock()
	}
	var counter atomic.Int64
	for range 8 {
		go func() {
			for {
				id := counter.Add(1)
				if err := s.Append(crashRecord(id)); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					continue
				}
				report('S', []int64{id})
			}
		}()
	}
	go func() {
		for {
			b, err := s.Next(context.Background(), 50, 1<<20, time.Millisecond)
			if err != nil {
				fmt.Fprintln(os.Stderr, "next:", err)
				return
			}
			// Ack only some batches, so the kill finds acked, handed-out and
			// unread records alike.
			if b.Records[0][len(b.Records[0])-2]%3 == 0 {
				continue
			}
			if err := s.Ack(b); err != nil {
				fmt.Fprintln(os.Stderr, "ack:", err)
				continue
			}
			ids := make([]int64, 0, len(b.Records))
			for _, r := range b.Records {
				id, _ := parseCrashRecord(r)
				ids = append(ids, id)
			}
			report('A', ids)
		}
	}()
	time.Sleep(2 * time.Minute) // the parent kills long before
	fmt.Fprintln(os.Stderr, "child was not killed")
}

func TestCrashKill(t *testing.T) {
	for _, d := range []Durability{Write, Fsync} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			stored, acked := runCrashChild(t, dir, d, 20000)
			s := openSpool(t, Options{Dir: dir, Durability: d})
			present := map[int64]bool{}
			for _, r := range drainAll(t, s) {
				id, ok := parseCrashRecord(r)
				if !ok {
					t.Fatalf("recovered a record that was never appended: %q", r)
				}
				present[id] = true
			}
			missing := 0
			for id := range stored {
				if !acked[id] && !present[id] {
					missing++
					if missing < 10 {
						t.Errorf("record %d was reported stored, never acked, and is gone", id)
					}
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d reported records lost", missing, len(stored))
			}
			t.Logf("%s: %d records reported stored, %d acked, %d recovered", d, len(stored), len(acked), len(present))
		})
	}
}

// runCrashChild starts the child, SIGKILLs it once it reported killAfter
// stored records, and returns what it reported.
func runCrashChild(t *testing.T, dir string, d Durability, killAfter int) (stored, acked map[int64]bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashDurEnv+"="+d.String())
	cmd.Stderr = testWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stored, acked = map[int64]bool{}, map[int64]bool{}
	killed := false
	watchdog := time.AfterFunc(time.Minute, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		// A line counts only when whole: the scanner hands out a final
		// unterminated line too, so check it parses completely.
		kind, num, ok := strings.Cut(sc.Text(), " ")
		id, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			continue
		}
		switch kind {
		case "S":
			stored[id] = true
		case "A":
			acked[id] = true
		}
		if !killed && len(stored) >= killAfter {
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
	return stored, acked
}
