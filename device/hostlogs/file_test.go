package hostlogs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func fileSource(r *rig, path string) *FileSource {
	return &FileSource{File: File{Path: path, Level: "info"}, Ship: r.sh, Log: testLogger(r.t), Poll: 10 * time.Millisecond}
}

// waitMessages waits until the queue holds want, then a little longer to
// see that nothing more (a line twice) comes.
func waitMessages(t *testing.T, r *rig, want ...string) {
	t.Helper()
	r.waitLines(len(want))
	time.Sleep(50 * time.Millisecond)
	if got := messages(r.lines()); !slices.Equal(got, want) {
		t.Fatalf("queued %q\nwant   %q", got, want)
	}
}

// tail -F semantics on a real file: a first start begins at the end; lines
// are read as written, a line without its newline waits for it; renaming
// the file away and creating a new one reads the rest of the old, then the
// new from its start; copytruncate reads the file again from its start; a
// restart goes on from the saved offset, also when the file was rotated
// while the agent was stopped.
func TestFileFollowsRotations(t *testing.T) {
	r := newRig(t, 1<<20, 1000)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	writeFile(t, path, "old line before the start\n", os.O_TRUNC)
	stop := runFor(t, fileSource(r, path).Run)
	testWaitState(t, r, path)
	writeFile(t, path, "one\ntw", os.O_APPEND)
	waitMessages(t, r, "one")
	writeFile(t, path, "o\r\n", os.O_APPEND)
	waitMessages(t, r, "one", "two")

	// logrotate's default: rename, then a new file under the name.
	writeFile(t, path, "three\n", os.O_APPEND)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path+".1", "four, after the rename\n", os.O_APPEND)
	writeFile(t, path, "five, in the new file\n", os.O_TRUNC)
	waitMessages(t, r, "one", "two", "three", "four, after the rename", "five, in the new file")

	// copytruncate: the file is copied away and cut to nothing.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	writeFile(t, path, "six\n", os.O_APPEND)
	waitMessages(t, r, "one", "two", "three", "four, after the rename", "five, in the new file", "six")

	// A line longer than max_line is cut, with an ellipsis.
	writeFile(t, path, strings.Repeat("x", 200)+"\n", os.O_APPEND)
	long := strings.Repeat("x", 61) + "…"
	waitMessages(t, r, "one", "two", "three", "four, after the rename", "five, in the new file", "six", long)
	stop()

	// Stopped: lines written, then the file rotated away.
	writeFile(t, path, "seven, while stopped\n", os.O_APPEND)
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "eight, new file while stopped\n", os.O_TRUNC)
	r.reopen()
	stop = runFor(t, fileSource(r, path).Run)
	waitMessages(t, r, "one", "two", "three", "four, after the rename", "five, in the new file", "six", long,
		"seven, while stopped", "eight, new file while stopped")
	stop()

	// Stopped and started again with nothing new: nothing is repeated.
	r.reopen()
	stop = runFor(t, fileSource(r, path).Run)
	writeFile(t, path, "nine\n", os.O_APPEND)
	waitMessages(t, r, "one", "two", "three", "four, after the rename", "five, in the new file", "six", long,
		"seven, while stopped", "eight, new file while stopped", "nine")
	stop()
	for _, p := range r.lines() {
		if p.Tags["unit"] != "app.log" || p.Tags["level"] != "info" {
			t.Fatalf("line %+v: want unit app.log (the base name) and level info", p)
		}
	}
}

// testWaitState waits until the source saved a position for path, that
// is, until it follows the file.
func testWaitState(t *testing.T, r *rig, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, ok := r.sh.State().Files[path]; ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no position saved for %s", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A file that does not exist yet is read from its start once it appears;
// one removed and created again is read from the start of the new one.
func TestFileAppears(t *testing.T) {
	r := newRig(t, 1<<20, 1000)
	path := filepath.Join(t.TempDir(), "late.log")
	stop := runFor(t, fileSource(r, path).Run)
	defer stop()
	time.Sleep(30 * time.Millisecond)
	writeFile(t, path, "first\n", os.O_TRUNC)
	waitMessages(t, r, "first")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	writeFile(t, path, "second\n", os.O_TRUNC)
	waitMessages(t, r, "first", "second")
}
