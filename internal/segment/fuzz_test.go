package segment

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRecover feeds arbitrary bytes to Open as a segment file. Open must
// never fail or panic over them, must hand out exactly the whole records at
// the start of the file, and must keep every byte it cut off that may hold
// more (in <segment>.corrupt), unless it is a torn tail.
func FuzzRecover(f *testing.F) {
	var valid []byte
	for i := range 4 {
		valid = AppendFrame(valid, record(i))
	}
	f.Add(valid, false)
	f.Add(valid, true)
	f.Add(valid[:len(valid)-3], false)
	f.Add(append(bytes.Clone(valid), 0, 0, 0, 0, 0, 0, 0, 0, 0), false)
	flipped := bytes.Clone(valid)
	flipped[FrameHeader+2] ^= 1
	f.Add(flipped, true)
	f.Add([]byte{}, false)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, false)

	f.Fuzz(func(t *testing.T, data []byte, middle bool) {
		segs := [][]byte{data}
		if middle { // then the fuzzed segment is not the last one
			segs = append(segs, AppendFrame(nil, []byte("after\n")))
		}
		dir := logWith(t, segs...)
		o, err := tryOpen(t, Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer o.close()

		kept, err := os.ReadFile(filepath.Join(dir, Name(1)))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, kept) {
			t.Fatalf("the segment now holds %d bytes that are not a prefix of the original", len(kept))
		}
		corrupt, err := os.ReadFile(filepath.Join(dir, Name(1)+".corrupt"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if corrupt != nil && !bytes.Equal(append(bytes.Clone(kept), corrupt...), data) {
			t.Fatal("kept bytes and .corrupt bytes do not add up to the original")
		}
		if corrupt == nil && middle && len(kept) != len(data) {
			t.Fatal("bytes cut from a segment that is not the last were not saved")
		}

		var want [][]byte
		for rest := kept; len(rest) > 0; {
			rec, size, st := DecodeFrame(rest)
			if st != OK {
				t.Fatalf("the kept segment has a %v at offset %d", st, len(kept)-len(rest))
			}
			want = append(want, rec)
			rest = rest[size:]
		}
		if middle {
			want = append(want, []byte("after\n"))
		}
		got := o.drain(t)
		if len(got) != len(want) {
			t.Fatalf("got %d records, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("record %d = %q, want %q", i, got[i], want[i])
			}
		}
	})
}
