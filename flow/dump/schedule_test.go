package dump

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/backoff"
	"github.com/mqflux/mqflux/internal/testenv"
)

func newTestScheduler(t *testing.T, cfg Config, db *testenv.Influx, stateDir string, now time.Time) *Scheduler {
	t.Helper()
	s, err := NewScheduler(cfg, from(db, 0), stateDir, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	s.Retry = backoff.Policy{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// waitState waits for the scheduler's state to satisfy cond.
func waitState(t *testing.T, s *Scheduler, what string, cond func(State) bool) {
	t.Helper()
	testenv.WaitFor(t, 2*time.Minute, what, func() bool { return cond(s.State()) })
}

func manifestCreated(t *testing.T, path string) time.Time {
	t.Helper()
	return readManifestFile(t, path).Created
}

// The previous day is dumped once it is due, once: a restarted scheduler
// with the same state does not dump it again; a start after days away
// dumps the missed days in order.
func TestSchedulerDumpsEachDayOnce(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 10)
	dir, state := t.TempDir(), t.TempDir()
	cfg := Config{To: "file://" + dir, At: "00:15", Timezone: "Europe/Berlin"}
	// 2026-12-06 00:20 Berlin: 2026-12-05 is due.
	now := time.Date(2026, 12, 5, 23, 20, 0, 0, time.UTC)

	s := newTestScheduler(t, cfg, db, state, now)
	s.Start(context.Background())
	waitState(t, s, "2026-12-05 dumped", func(st State) bool { return st.LastDone == "2026-12-05" })
	s.Stop()
	manifest := filepath.Join(dir, "2026-12-05", ManifestName)
	first := manifestCreated(t, manifest)
	if st, _ := LoadState(filepath.Join(state, StateFile)); st.LastDone != "2026-12-05" || len(st.Done) != 1 || st.Done[0].Rows != 14 { // 12 temperature, 2 board
		t.Fatalf("saved state %+v", st)
	}

	// Restart, later the same day: nothing is due.
	s = newTestScheduler(t, cfg, db, state, now.Add(time.Hour))
	s.Start(context.Background())
	time.Sleep(500 * time.Millisecond) // a dump would begin at once; give it the chance to happen wrongly
	s.Stop()
	if got := manifestCreated(t, manifest); !got.Equal(first) {
		t.Fatalf("2026-12-05 dumped again after a restart (created %s, then %s)", first, got)
	}

	// Three days later: 06, 07 and 08 are dumped, in order.
	s = newTestScheduler(t, cfg, db, state, now.Add(72*time.Hour))
	s.Start(context.Background())
	waitState(t, s, "missed days dumped", func(st State) bool { return st.LastDone == "2026-12-08" })
	s.Stop()
	st := s.State()
	var dates []string
	for _, d := range st.Done {
		dates = append(dates, d.Date)
	}
	if len(dates) != 4 || dates[1] != "2026-12-06" || dates[3] != "2026-12-08" {
		t.Errorf("days done %v", dates)
	}
	if got := manifestCreated(t, manifest); !got.Equal(first) {
		t.Errorf("2026-12-05 dumped again while catching up")
	}
}

// A failed day is retried with backoff until it succeeds, and is dumped
// once; the state says why it failed meanwhile.
func TestSchedulerRetriesAFailedDay(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 10)
	parent := t.TempDir()
	dir := filepath.Join(parent, "dumps")
	// A file where the store's directory should be: every attempt fails.
	if err := os.WriteFile(dir, []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{To: "file://" + dir, At: "00:15", Timezone: "UTC", KeepDays: 0}
	s := newTestScheduler(t, cfg, db, t.TempDir(), time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	s.Start(context.Background())
	defer s.Stop()
	waitState(t, s, "two failed attempts", func(st State) bool { return st.Failing != nil && st.Failing.Attempts >= 2 })
	if st := s.State(); st.Failing.Date != "2026-12-05" || st.LastDone != "" {
		t.Fatalf("state while failing: %+v", st)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, "the retry succeeds", func(st State) bool { return st.LastDone == "2026-12-05" && st.Failing == nil })
	if n := duckCount(t, filepath.Join(dir, "2026-12-05", "temperature.parquet")); n != 12 {
		t.Errorf("DuckDB counts %d rows, want 12", n)
	}
}

// keep_days deletes the older days and the index lists what is left.
func TestSchedulerKeepDays(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 5)
	dir := t.TempDir()
	for _, old := range []string{"2026-11-01", "2026-12-03"} {
		if err := os.MkdirAll(filepath.Join(dir, old), 0o750); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{ManifestName, "x.parquet"} {
			if err := os.WriteFile(filepath.Join(dir, old, f), []byte(`{"date":"`+old+`","files":[]}`), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := Config{To: "file://" + dir, At: "00:15", Timezone: "UTC", KeepDays: 3}
	s := newTestScheduler(t, cfg, db, t.TempDir(), time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC))
	s.Start(context.Background())
	waitState(t, s, "dumped", func(st State) bool { return st.LastDone == "2026-12-05" })
	s.Stop()
	if _, err := os.Stat(filepath.Join(dir, "2026-11-01")); !os.IsNotExist(err) {
		if entries, _ := os.ReadDir(filepath.Join(dir, "2026-11-01")); len(entries) > 0 {
			t.Errorf("2026-11-01 is older than keep_days and still holds %d files", len(entries))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "2026-12-03", "x.parquet")); err != nil {
		t.Errorf("2026-12-03 is within keep_days (3 days before 2026-12-06) and was deleted: %v", err)
	}
	idx := readIndexFile(t, filepath.Join(dir, "index.json"))
	if len(idx.Days) != 2 || idx.Days[0].Date != "2026-12-05" || idx.Days[1].Date != "2026-12-03" {
		t.Errorf("index lists %+v, want 2026-12-05 and 2026-12-03", idx.Days)
	}
}
