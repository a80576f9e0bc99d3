package queue

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// testdata/v1 was written by the queue of the previous release: 30 records
// "legacy reading 00".."legacy reading 29" (ids 1..30) in segments of 256
// bytes, ids up to 12 acknowledged (the first file already deleted) and id
// 16 acknowledged out of order, which that release did not persist.
func TestMigratesLegacyQueue(t *testing.T) {
	dir := testenv.CopyDir(t, "testdata/v1")
	q := open(t, dir, 1<<20, 0)
	want := func(t *testing.T, got []Record) {
		t.Helper()
		if len(got) != 18 {
			t.Fatalf("got %d records, want the 18 unacknowledged ones", len(got))
		}
		for i, r := range got {
			if w := fmt.Sprintf("legacy reading %02d", 12+i); string(r.Data) != w {
				t.Fatalf("record %d = %q, want %q", i, r.Data, w)
			}
		}
	}
	got := drain(t, q, false)
	want(t, got)
	for _, name := range []string{legacyName(10), legacyName(19), legacyName(28), legacyCursor} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Fatalf("old file %s still there after the migration: %v", name, err)
		}
	}
	if st := q.Stats(); st.Records != 18 {
		t.Fatalf("stats %+v, want 18 records", st)
	}
	// Nothing was acknowledged: a restart (a crash after the migration
	// included) has every record once, not twice.
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(t, dir, 1<<20, 0)
	defer q.Close()
	got = drain(t, q, false)
	want(t, got)
	for _, r := range got[:5] {
		q.Ack(r.ID)
	}
	q.Rewind()
	if rest := drain(t, q, false); len(rest) != 13 || string(rest[0].Data) != "legacy reading 17" {
		t.Fatalf("after acking 5, %d records from %q; want 13 from legacy reading 17", len(rest), rest[0].Data)
	}
}

// A crash after the old records were appended to the log but before the old
// files were removed takes them over again: duplicates, never a loss.
func TestMigrationRepeatedAfterCrashLosesNothing(t *testing.T) {
	dir := testenv.CopyDir(t, "testdata/v1")
	q := open(t, dir, 1<<20, 0)
	q.Close()
	old := testenv.CopyDir(t, "testdata/v1")
	entries, _ := os.ReadDir(old)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(old, e.Name()))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	q = open(t, dir, 1<<20, 0)
	defer q.Close()
	count := map[string]int{}
	for _, r := range drain(t, q, false) {
		count[string(r.Data)]++
	}
	for i := 12; i < 30; i++ {
		if c := count[fmt.Sprintf("legacy reading %02d", i)]; c != 2 {
			t.Fatalf("legacy reading %02d came back %d times, want twice", i, c)
		}
	}
}
