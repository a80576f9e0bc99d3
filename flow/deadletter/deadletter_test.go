package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

func readAll(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Entry
	r := NewReader(f)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

func TestPayloadEncodings(t *testing.T) {
	when := time.Date(2026, 11, 23, 18, 0, 0, 123e6, time.UTC)
	tests := []struct {
		name    string
		payload []byte
		key     string // the JSON key that must carry it
	}{
		{"json", []byte(`{"value": NaN, "note": "<b>&</b>"}`), "payload"},
		{"line protocol with newlines", []byte("m value=1\nm value=\"x\" 17\n"), "payload"},
		{"empty", []byte{}, "payload"},
		{"binary", []byte{0xff, 0x00, 0xfe, 'a', 0x80}, "payload_base64"},
		{"truncated utf-8", []byte("temp \xe2\x82"), "payload_base64"},
	}
	path := filepath.Join(t.TempDir(), "sub", "deadletter.jsonl")
	d, err := Open(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		err := d.Add(Entry{Time: when, Source: "mqtt", Topic: "devices/pi-1/sensors/env", Reason: "bad_json", Detail: tt.name, Payload: tt.payload})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(tests) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tests), data)
	}
	for i, tt := range tests {
		var obj map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &obj); err != nil {
			t.Fatalf("%s: line %q is not JSON: %v", tt.name, lines[i], err)
		}
		if _, ok := obj[tt.key]; !ok {
			t.Errorf("%s: line %s has no %q", tt.name, lines[i], tt.key)
		}
		if obj["time"] != "2026-11-23T18:00:00.123Z" || obj["source"] != "mqtt" || obj["reason"] != "bad_json" || obj["topic"] != "devices/pi-1/sensors/env" {
			t.Errorf("%s: line %s lacks the entry's fields", tt.name, lines[i])
		}
	}
	for i, e := range readAll(t, path) {
		if !bytes.Equal(e.Payload, tests[i].payload) || !e.Time.Equal(when) || e.Detail != tests[i].name {
			t.Errorf("%s: read back %+v", tests[i].name, e)
		}
	}
}

func TestConcurrentAdds(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{{"fsync each entry", nil}, {"without sync", []Option{WithoutSync()}}} {
		t.Run(tc.name, func(t *testing.T) { concurrentAdds(t, tc.opts...) })
	}
}

func concurrentAdds(t *testing.T, opts ...Option) {
	path := filepath.Join(t.TempDir(), "deadletter.jsonl")
	d, err := Open(path, 0, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := fmt.Sprintf("writer %d entry %d %s", w, i, strings.Repeat("x", 100*(i%5)))
				if err := d.Add(Entry{Source: "http", Reason: "nan", Payload: []byte(p)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	d.Close()
	seen := map[string]bool{}
	for _, e := range readAll(t, path) {
		if e.Time.IsZero() {
			t.Fatal("entry without a time")
		}
		seen[string(e.Payload)] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct entries, want %d", len(seen), writers*each)
	}
}

func TestRotation(t *testing.T) {
	entry := func(i int) Entry {
		return Entry{Time: time.Unix(1e9, 0), Source: "influx", Reason: "field type conflict",
			Detail: fmt.Sprint(i), Payload: []byte(strings.Repeat("p", 150))}
	}
	// Every line has the same size; make room for exactly four.
	scratch := filepath.Join(t.TempDir(), "one.jsonl")
	one, err := Open(scratch, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := one.Add(entry(0)); err != nil {
		t.Fatal(err)
	}
	one.Close()
	fi, err := os.Stat(scratch)
	if err != nil {
		t.Fatal(err)
	}
	maxBytes := 4 * fi.Size()

	path := filepath.Join(t.TempDir(), "deadletter.jsonl")
	var logs testenv.SyncBuffer
	d, err := Open(path, maxBytes, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i := range 10 {
		if err := d.Add(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	cur, old := readAll(t, path), readAll(t, path+".1")
	if len(cur) != 2 || len(old) != 4 || old[0].Detail != "4" || cur[1].Detail != "9" {
		t.Fatalf("after 10 entries: %d in the file, %d in .1 (first %q); want the newest 2 and the 4 before them", len(cur), len(old), old[0].Detail)
	}
	for _, p := range []string{path, path + ".1"} {
		fi, err = os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxBytes {
			t.Errorf("%s holds %d bytes, past the %d allowed", p, fi.Size(), maxBytes)
		}
	}
	if n := strings.Count(logs.String(), "dead-letter file rotated"); n != 2 {
		t.Fatalf("%d rotations logged, want 2:\n%s", n, logs.String())
	}
}

func TestReopenEndsPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deadletter.jsonl")
	d, err := Open(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Add(Entry{Source: "mqtt", Reason: "topic", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// A crash mid-write leaves half a line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-`)
	f.Close()

	var logs testenv.SyncBuffer
	d, err = Open(path, 0, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Add(Entry{Source: "mqtt", Reason: "topic", Payload: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if err := d.Add(Entry{Source: "mqtt"}); err == nil {
		t.Fatal("Add after Close succeeded")
	}
	if !strings.Contains(logs.String(), "partial line") {
		t.Fatalf("the repair was not logged: %s", logs.String())
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := NewReader(fh)
	if e, err := r.Next(); err != nil || string(e.Payload) != "1" {
		t.Fatalf("first entry = %+v, %v", e, err)
	}
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("the partial line read as %v, want an error naming line 2", err)
	}
	if e, err := r.Next(); err != nil || string(e.Payload) != "2" {
		t.Fatalf("entry after the partial line = %+v, %v", e, err)
	}
}
