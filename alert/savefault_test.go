package alert

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A state file that cannot be written (a full disk; here its temporary
// file's name is taken by a directory) is reported by SaveFault, the
// transition waits unsent, and the next save once writing works again
// sends it.
func TestFailedSaveIsReportedAndRetried(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	clk := &clock{t: t0}
	s := openService(t, dir, clk, r.URL, nil)
	defer s.Stop()
	blocker := filepath.Join(dir, stateFile+".tmp")
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	observeReading(s, "pi-1", t0)
	clk.Set(t0.Add(2 * time.Minute))
	s.check()
	if err := s.saveNow(); err == nil {
		t.Fatal("saveNow with the temporary file's name taken returned nil")
	}
	if s.SaveFault() == "" {
		t.Fatal("SaveFault empty after a failed save")
	}
	if got := r.got(); len(got) != 0 {
		t.Fatalf("sent %q before it was saved", got)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := s.saveNow(); err != nil {
		t.Fatalf("saveNow once writing works: %v", err)
	}
	if f := s.SaveFault(); f != "" {
		t.Fatalf("SaveFault after a successful save: %q", f)
	}
	r.waitFor(t, "the firing", func() bool { return len(r.got()) == 1 })
}
