package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// entryLine is the JSON line Add writes for a device's entry with payload.
func entryLine(t *testing.T, device, payload string) string {
	t.Helper()
	b, err := json.Marshal(toLine(Entry{Source: "mqtt", Device: device, Reason: "bad_number", Payload: []byte(payload)}))
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

func devices(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Device)
	}
	return out
}

func TestTail(t *testing.T) {
	long := strings.Repeat("x", 3*tailBlock+17) // a line over several blocks
	for _, tc := range []struct {
		name           string
		current, older string // file contents; older is the rotated file, "-" for none
		n              int
		want           []string // devices, newest first
		unreadable     int
	}{
		{name: "no file", current: "-", older: "-", n: 5},
		{name: "empty", current: "", older: "-", n: 5},
		{name: "one", current: entryLine(t, "a", "1"), older: "-", n: 5, want: []string{"a"}},
		{name: "newest n", current: entryLine(t, "a", "1") + entryLine(t, "b", "2") + entryLine(t, "c", "3"), older: "-", n: 2,
			want: []string{"c", "b"}},
		{name: "partial last line", current: entryLine(t, "a", "1") + `{"time":"2026-01-01T00:00:00Z","sou`, older: "-", n: 5,
			want: []string{"a"}},
		{name: "only a partial line", current: `{"time":"2026`, older: "-", n: 5},
		{name: "blank and bad lines", current: entryLine(t, "a", "1") + "\n\nnot json\n" + entryLine(t, "b", "2"), older: "-", n: 5,
			want: []string{"b", "a"}, unreadable: 1},
		{name: "line longer than a block", current: entryLine(t, "a", "1") + entryLine(t, "long", long) + entryLine(t, "c", "3"), older: "-", n: 5,
			want: []string{"c", "long", "a"}},
		{name: "first line longer than a block", current: entryLine(t, "long", long) + entryLine(t, "c", "3"), older: "-", n: 5,
			want: []string{"c", "long"}},
		{name: "into the rotated file", current: entryLine(t, "c", "3"), older: entryLine(t, "a", "1") + entryLine(t, "b", "2"), n: 5,
			want: []string{"c", "b", "a"}},
		{name: "rotated just now", current: "", older: entryLine(t, "a", "1") + entryLine(t, "b", "2"), n: 1,
			want: []string{"b"}},
		{name: "only the rotated file", current: "-", older: entryLine(t, "a", "1"), n: 5, want: []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := PathIn(t.TempDir())
			for p, content := range map[string]string{path: tc.current, RotatedPath(path): tc.older} {
				if content != "-" {
					if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			page, err := Tail(path, tc.n, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := devices(page.Entries); !slices.Equal(got, tc.want) || page.Unreadable != tc.unreadable {
				t.Fatalf("Tail: %q, %d unreadable; want %q, %d", got, page.Unreadable, tc.want, tc.unreadable)
			}
			if len(tc.want) > 0 && tc.want[0] == "long" || slices.Contains(tc.want, "long") {
				for _, e := range page.Entries {
					if e.Device == "long" && string(e.Payload) != long {
						t.Fatalf("the long line's payload came back with %d bytes, want %d", len(e.Payload), len(long))
					}
				}
			}
		})
	}
}

// TestTailPages follows the cursors from the end to the start of the
// rotated file: every entry once, newest first, then no cursor.
func TestTailPages(t *testing.T) {
	path := PathIn(t.TempDir())
	var older, current strings.Builder
	var want []string
	for i := range 25 {
		b := &current
		if i < 10 {
			b = &older
		}
		b.WriteString(entryLine(t, fmt.Sprint("d", i), strings.Repeat("p", i*1000)))
		want = append([]string{fmt.Sprint("d", i)}, want...)
	}
	if err := os.WriteFile(RotatedPath(path), []byte(older.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(current.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3, 5, 15, 100} {
		var got []string
		cursor, pages := "", 0
		for {
			page, err := Tail(path, n, cursor)
			if err != nil {
				t.Fatalf("n=%d page %d: %v", n, pages, err)
			}
			got = append(got, devices(page.Entries)...)
			pages++
			if cursor = page.Next; cursor == "" {
				break
			}
			if pages > 100 {
				t.Fatalf("n=%d: the cursors do not end", n)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: pages gave %q, want %q", n, got, want)
		}
	}
}

// TestTailCursorAcrossRotation: a cursor given before the file rotates
// continues in the rotated file; one into a file rewritten since expires.
func TestTailCursorAcrossRotation(t *testing.T) {
	path := PathIn(t.TempDir())
	d, err := Open(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, dev := range []string{"a", "b", "c"} {
		if err := d.Add(Entry{Source: "mqtt", Device: dev, Reason: "topic"}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := Tail(path, 1, "")
	if err != nil || page.Next == "" {
		t.Fatalf("Tail: %+v, %v", page, err)
	}
	if err := os.Rename(path, RotatedPath(path)); err != nil {
		t.Fatal(err)
	}
	next, err := Tail(path, 5, page.Next)
	if err != nil || !slices.Equal(devices(next.Entries), []string{"b", "a"}) {
		t.Fatalf("after rotation: %q, %v; want b, a", devices(next.Entries), err)
	}
	if err := os.Rename(RotatedPath(path), path); err != nil {
		t.Fatal(err)
	}
	// A replay rewrites the file: the offsets of the old one mean nothing.
	if err := d.Rewrite(func(e Entry) (Entry, bool, error) { return e, e.Device != "b", nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := Tail(path, 5, page.Next); !errors.Is(err, ErrCursorExpired) {
		t.Fatalf("after a rewrite: %v, want ErrCursorExpired", err)
	}
	for _, bad := range []string{"x", "1-", "zz-zz-zz", "-1"} {
		if _, err := Tail(path, 5, bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: %v, want ErrBadCursor", bad, err)
		}
	}
}

// TestScanBack checks the backward reader against a forward split for
// every block size, lines longer than blocks included, and skips a line
// over the limit.
func TestScanBack(t *testing.T) {
	data := "a\n\nbbbbbbbbbbbbbbbbbbbbbbbbb\ncc\nd\neeeeeeeeeeeee\npartial"
	lines := strings.Split(data, "\n")
	lines = lines[:len(lines)-1] // the partial line is left out
	var offsets []int64
	at := int64(0)
	for _, l := range lines {
		offsets = append(offsets, at)
		at += int64(len(l)) + 1
	}
	slices.Reverse(lines)
	slices.Reverse(offsets)
	for _, tc := range []struct {
		maxLine int
		want    []string
		skipped int
	}{
		{maxLine: 100, want: lines},
		{maxLine: 12, want: slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return len(l) > 12 }), skipped: 2},
	} {
		for block := 1; block <= len(data)+1; block++ {
			var got []string
			var gotAt []int64
			skipped := 0
			err := scanBack(strings.NewReader(data), int64(len(data)), block, tc.maxLine, func(l []byte, at int64) bool {
				got = append(got, string(bytes.Clone(l)))
				gotAt = append(gotAt, at)
				return true
			}, &skipped)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || skipped != tc.skipped {
				t.Fatalf("max %d block %d: %q, %d skipped; want %q, %d", tc.maxLine, block, got, skipped, tc.want, tc.skipped)
			}
			if tc.skipped == 0 && !slices.Equal(gotAt, offsets) {
				t.Fatalf("block %d: offsets %v, want %v", block, gotAt, offsets)
			}
		}
	}
}
