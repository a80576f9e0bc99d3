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
	// crashTwoEnv makes the child open crashReaders and number its records
	// from crashFirstID; only the first reader reads.
	crashTwoEnv = "MQFLUX_SPOOL_CRASH_TWO_READERS"
)

// The readers of the two-reader crash test: one acks, one never reads.
var crashReaders = []ReaderSpec{{Name: "acker", Required: true}, {Name: "idle", Required: true}}

const crashFirstID = 1_000_000

// TestMain turns the test binary into the child of TestCrashKill when the
// environment asks for it.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir, os.Getenv(crashDurEnv), os.Getenv(crashTwoEnv) != "")
		os.Exit(2) // crashChild returns only on failure
	}
	os.Exit(m.Run())
}

// crashChild appends and acks as fast as it can, printing "S id" once Append
// returned nil for a record and "A id" once the batch holding it was acked,
// until it is killed.
func crashChild(dir, durability string, two bool) {
	dur, err := ParseDurability(durability)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	opts := Options{Dir: dir, Durability: dur, SegmentBytes: 64 << 10,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	var counter atomic.Int64
	if two {
		opts.Readers = crashReaders
		counter.Store(crashFirstID - 1)
	}
	s, err := Open(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	rd := s.readers[0]
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
			b, err := rd.Next(context.Background(), 50, 1<<20, time.Millisecond)
			if err != nil {
				fmt.Fprintln(os.Stderr, "next:", err)
				return
			}
			// Ack only some batches, so the kill finds acked, handed-out and
			// unread records alike.
			if b.Records[0][len(b.Records[0])-2]%3 == 0 {
				continue
			}
			if err := rd.Ack(b); err != nil {
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

// TestCrashKillTwoReaders: a reader that acks and one that never reads,
// across a SIGKILL. The idle one still gets every record reported stored;
// the acking one gets nothing it acked before its last saved cursor, and
// everything after it (what it acked since comes back: it was not saved).
func TestCrashKillTwoReaders(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, SegmentBytes: 64 << 10, Readers: crashReaders})
	const before, ackedBefore = 1000, 600
	for id := int64(1); id <= before; id++ {
		if err := s.Append(testenv.KillRecord(id)); err != nil {
			t.Fatal(err)
		}
	}
	for acked := 0; acked < ackedBefore; {
		b := nextOf(t, s.Reader("acker"), min(100, ackedBefore-acked))
		ack(t, s.Reader("acker"), b)
		acked += len(b.Records)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	seen := testenv.KillChild(t, []string{crashDirEnv + "=" + dir, crashDurEnv + "=write", crashTwoEnv + "=1"}, "S", 20000)
	stored, acked := seen["S"], seen["A"]
	s = openSpool(t, Options{Dir: dir, Readers: crashReaders})
	ids := func(r *Reader) map[int64]bool {
		got := map[int64]bool{}
		for _, rec := range drainReader(t, r) {
			id, ok := testenv.ParseKillRecord(rec)
			if !ok {
				t.Fatalf("%s recovered a record that was never appended: %q", r.Name(), rec)
			}
			if got[id] {
				t.Fatalf("%s got record %d twice after one reopen", r.Name(), id)
			}
			got[id] = true
		}
		return got
	}
	idle, acker := ids(s.Reader("idle")), ids(s.Reader("acker"))
	// missing fails unless got holds from..to and every id of extra.
	missing := func(name string, got map[int64]bool, from, to int64, extra map[int64]bool) {
		t.Helper()
		n := 0
		check := func(id int64) {
			if !got[id] {
				if n++; n < 10 {
					t.Errorf("%s lost record %d", name, id)
				}
			}
		}
		for id := from; id <= to; id++ {
			check(id)
		}
		for id := range extra {
			check(id)
		}
		if n > 0 {
			t.Fatalf("%s lost %d records", name, n)
		}
	}
	missing("idle", idle, 1, before, stored)
	missing("acker", acker, ackedBefore+1, before, stored)
	for id := int64(1); id <= ackedBefore; id++ {
		if acker[id] {
			t.Fatalf("acker got record %d again, acked before its saved cursor", id)
		}
	}
	t.Logf("%d records reported stored by the child, %d acked by acker; idle recovered %d, acker %d",
		len(stored), len(acked), len(idle), len(acker))
}
