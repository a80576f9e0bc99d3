package spool

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

const (
	crashDirEnv = "MQFLUX_SPOOL_CRASH_DIR"
	crashDurEnv = "MQFLUX_SPOOL_CRASH_DURABILITY"
)

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
				if err := s.Append(testenv.KillRecord(id)); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					continue
				}
				report('S', []int64{id})
			}
		}()
	}
	go func() {
		for {
			b, err := only(s).Next(context.Background(), 50, 1<<20, time.Millisecond)
			if err != nil {
				fmt.Fprintln(os.Stderr, "next:", err)
				return
			}
			// Ack only some batches, so the kill finds acked, handed-out and
			// unread records alike.
			if b.Records[0][len(b.Records[0])-2]%3 == 0 {
				continue
			}
			if err := only(s).Ack(b); err != nil {
				fmt.Fprintln(os.Stderr, "ack:", err)
				continue
			}
			ids := make([]int64, 0, len(b.Records))
			for _, r := range b.Records {
				id, _ := testenv.ParseKillRecord(r)
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
			seen := testenv.KillChild(t, []string{crashDirEnv + "=" + dir, crashDurEnv + "=" + d.String()}, "S", 20000)
			stored, acked := seen["S"], seen["A"]
			s := openSpool(t, Options{Dir: dir, Durability: d})
			present := map[int64]bool{}
			for _, r := range drainAll(t, s) {
				id, ok := testenv.ParseKillRecord(r)
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
