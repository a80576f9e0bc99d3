package deadletter

import (
	"errors"
	"testing"
	"time"
)

// Rewrite drops what fn drops, keeps what it changes, and after fn fails
// keeps that entry and the rest as they were; Summarize reads the result.
func TestRewrite(t *testing.T) {
	path := PathIn(t.TempDir())
	d, err := Open(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, dev := range []string{"drop", "change", "fail", "after"} {
		if err := d.Add(Entry{Time: t0.Add(time.Duration(i) * time.Minute), Source: "mqtt", Device: dev, Topic: "t/" + dev, Reason: "topic", Payload: []byte("1")}); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("spool full")
	err = d.Rewrite(func(e Entry) (Entry, bool, error) {
		switch e.Device {
		case "drop":
			return e, false, nil
		case "change":
			e.Reason = "bad_field"
			return e, true, nil
		case "fail":
			e.Reason = "lost"
			return e, false, boom
		}
		return Entry{}, false, nil // never reached: entries after a failure are kept untouched
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Rewrite: %v, want the error of fn", err)
	}
	s, err := Summarize(path, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Entries != 3 || s.ByReason["bad_field"] != 1 || s.ByReason["topic"] != 2 || s.ByDevice["drop"] != 0 {
		t.Fatalf("after Rewrite: %+v", s)
	}
	if s.Newest[0].Device != "after" || s.Newest[2].Device != "change" {
		t.Fatalf("newest first: %+v", s.Newest)
	}
	// The file takes new entries after the rewrite.
	if err := d.Add(Entry{Source: "mqtt", Device: "new", Topic: "t/new", Reason: "topic"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := Summarize(path, 1, ""); s.Entries != 4 || s.Newest[0].Device != "new" {
		t.Fatalf("after Add: %+v", s)
	}
}
