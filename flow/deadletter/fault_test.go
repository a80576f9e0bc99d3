package deadletter

import (
	"os"
	"path/filepath"
	"testing"
)

// A write the file system refuses is reported (Add's error and Fault),
// leaves no partial line, and the next Add once writes work again succeeds;
// a rotation whose new file cannot be created is retried by the next Add.
func TestFailedWriteIsReportedAndRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	d, err := Open(path, 1<<20, nil, WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Add(Entry{Source: "mqtt", Topic: "a", Reason: "r", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	// A handle that refuses writes stands for a full disk.
	good := d.f
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d.f = ro
	if err := d.Add(Entry{Source: "mqtt", Topic: "b", Reason: "r", Payload: []byte("2")}); err == nil {
		t.Fatal("Add on a file that refuses writes returned nil")
	}
	if d.Fault() == "" {
		t.Fatal("Fault empty after a failed write")
	}
	ro.Close()
	d.f = good
	if err := d.Add(Entry{Source: "mqtt", Topic: "b", Reason: "r", Payload: []byte("2")}); err != nil {
		t.Fatalf("Add once writes work again: %v", err)
	}
	if f := d.Fault(); f != "" {
		t.Fatalf("Fault after a successful write: %q", f)
	}
	// A rotation that could not start its new file: the next Add does.
	good.Close()
	d.f = nil
	if err := d.Add(Entry{Source: "mqtt", Topic: "c", Reason: "r", Payload: []byte("3")}); err != nil {
		t.Fatalf("Add after a failed rotation: %v", err)
	}
	got := readAll(t, path)
	if len(got) != 3 || got[0].Topic != "a" || got[1].Topic != "b" || got[2].Topic != "c" {
		t.Fatalf("entries %+v, want a, b, c once each", got)
	}
}
