package segment

import (
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
	killDirEnv = "SEGMENT_TEST_KILL_DIR"
	killDurEnv = "SEGMENT_TEST_KILL_DURABILITY"
)

// TestMain turns the test binary into the child of TestKill when the
// environment asks for it.
func TestMain(m *testing.M) {
	if dir := os.Getenv(killDirEnv); dir != "" {
		killChild(dir, os.Getenv(killDurEnv))
		os.Exit(2) // killChild returns only on failure
	}
	os.Exit(m.Run())
}

// killChild appends from 8 goroutines as fast as it can, rolling segments
// often, and prints "S id" once a record is stored (written, and fsynced
// under Fsync), until it is killed.
func killChild(dir, durability string) {
	dur := Write
	if durability == Fsync.String() {
		dur = Fsync
	}
	var mu sync.Mutex
	l, err := Open(Options{Dir: dir, What: "kill", Durability: dur, SegmentBytes: 64 << 10, MaxBytes: 1 << 40,
		Mu: &mu, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	var out sync.Mutex
	var counter atomic.Int64
	for range 8 {
		go func() {
			for {
				id := counter.Add(1)
				mu.Lock()
				_, pos, err := l.Write(testenv.KillRecord(id))
				if err == nil && dur == Fsync {
					err = l.WaitSynced(pos)
				}
				mu.Unlock()
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					continue
				}
				out.Lock()
				fmt.Fprintf(os.Stdout, "S %d\n", id) // unbuffered: once written, the parent sees it
				out.Unlock()
			}
		}()
	}
	time.Sleep(2 * time.Minute) // the parent kills long before
	fmt.Fprintln(os.Stderr, "child was not killed")
}

// TestKill SIGKILLs a process mid-append, twice into the same directory,
// and checks that every record it reported stored is recovered, and
// nothing that was never appended.
func TestKill(t *testing.T) {
	for _, d := range []Durability{Write, Fsync} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			for round := range 2 {
				stored := testenv.KillChild(t, []string{killDirEnv + "=" + dir, killDurEnv + "=" + d.String()}, "S", 5000)["S"]
				o := openOwner(t, Options{Dir: dir, Durability: d})
				present := map[int64]bool{}
				o.mu.Lock()
				var recs [][]byte
				for _, g := range o.l.Segments() {
					for off := g.ReadOff; off < g.Size; {
						c, err := o.rd.Read(g, off, g.Size, Limits{Records: 1000, Bytes: 1 << 20, First: true})
						if err != nil || c.Damage != OK {
							t.Fatalf("round %d: recovered segment %s unreadable at %d: %v %v", round, g.Path, off, err, c.Damage)
						}
						recs = append(recs, c.Records...)
						off += c.Consumed
					}
				}
				o.mu.Unlock()
				for _, r := range recs {
					id, ok := testenv.ParseKillRecord(r)
					if !ok {
						t.Fatalf("round %d: recovered a record that was never appended: %q", round, r)
					}
					present[id] = true
				}
				missing := 0
				for id := range stored {
					if !present[id] {
						missing++
					}
				}
				if missing > 0 {
					t.Fatalf("round %d: %d of %d records reported stored are gone", round, missing, len(stored))
				}
				t.Logf("round %d: %d records recovered", round, len(present))
				// Everything is acknowledged: the next round's ids start over
				// in an empty log.
				o.drain(t)
				if err := o.close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
