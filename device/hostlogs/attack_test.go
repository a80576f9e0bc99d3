package hostlogs

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What journalctl prints is read defensively: an entry over 1MiB, lines
// that are not JSON, an entry without MESSAGE and blank lines are skipped
// (each logged), and reading goes on to the next good entry, whose cursor
// is saved.
func TestJournalStreamGarbage(t *testing.T) {
	r := newRig(t, 1<<20, 1000)
	huge := `{"__CURSOR":"big","MESSAGE":"` + strings.Repeat("x", 2<<20) + `"}`
	stream := strings.Join([]string{
		`{"__CURSOR":"c1","MESSAGE":"before","PRIORITY":"6"}`,
		huge,
		"not json at all \x00\xff",
		`[1,2,3]`,
		`{"__CURSOR":"c2","PRIORITY":"6"}`,
		"",
		`{"__CURSOR":"c3","MESSAGE":"after","PRIORITY":"6"}`,
	}, "\n") + "\n"
	src := &JournalSource{Ship: r.sh, Log: testLogger(t)}
	n, err := src.read(bufio.NewReaderSize(strings.NewReader(stream), 64<<10))
	if err != nil || n != 2 {
		t.Fatalf("read %d entries, %v; want the 2 good ones", n, err)
	}
	if got := messages(r.lines()); len(got) != 2 || got[0] != "before" || got[1] != "after" {
		t.Fatalf("queued %q", got)
	}
	if c := r.sh.State().Journal; c != "c3" {
		t.Fatalf("cursor %q, want c3", c)
	}
}

// A file line of several MiB (no newline for a long while) keeps at most
// max_line of it in memory and sends it cut; binary garbage becomes a
// valid one-line message.
func TestFileHugeLineAndBinary(t *testing.T) {
	r := newRig(t, 1<<20, 1000)
	path := filepath.Join(t.TempDir(), "bin.log")
	writeFile(t, path, "", os.O_TRUNC)
	stop := runFor(t, fileSource(r, path).Run)
	defer stop()
	testWaitState(t, r, path)
	writeFile(t, path, strings.Repeat("y", 4<<20), os.O_APPEND)
	writeFile(t, path, "\n\x00\x01\xff\xfebinary\x1b[0m\n", os.O_APPEND)
	waitMessages(t, r, strings.Repeat("y", 61)+"…", "  \uFFFDbinary [0m") // a run of invalid bytes is one U+FFFD
	if pos := r.sh.State().Files[path]; pos.Offset != 4<<20+1+15 {
		t.Fatalf("saved offset %d, want the file's end", pos.Offset)
	}
}
