package segment

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// owner is the smallest owner of a Log: it appends, and drains by reading
// every record from each segment's ReadOff and acknowledging it.
type owner struct {
	mu sync.Mutex
	l  *Log
	rd Reader
}

func openOwner(t testing.TB, opts Options) *owner {
	t.Helper()
	o, err := tryOpen(t, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.close() })
	return o
}

func tryOpen(t testing.TB, opts Options) (*owner, error) {
	o := &owner{}
	opts.Mu = &o.mu
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	l, err := Open(opts)
	if err != nil {
		return nil, err
	}
	o.l = l
	return o, nil
}

func (o *owner) append(t testing.TB, recs ...[]byte) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range recs {
		if _, pos, err := o.l.Write(r); err != nil {
			t.Fatalf("Write: %v", err)
		} else if o.l.Durability() == Fsync {
			if err := o.l.WaitSynced(pos); err != nil {
				t.Fatalf("WaitSynced: %v", err)
			}
		}
	}
}

// drain reads and acknowledges every record, failing on unreadable ones.
func (o *owner) drain(t testing.TB) [][]byte {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out [][]byte
	for _, g := range append([]*Segment(nil), o.l.Segments()...) {
		for g.ReadOff < g.Size {
			c, err := o.rd.Read(g, g.ReadOff, g.Size, Limits{Records: 1000, Bytes: 1 << 20, First: true})
			if err != nil || c.Damage != OK {
				t.Fatalf("read %s at %d: %v %v", g.Path, g.ReadOff, err, c.Damage)
			}
			out = append(out, c.Records...)
			g.ReadOff += c.Consumed
			g.ReadRecs += int64(len(c.Records))
			g.Acked = g.ReadRecs
		}
		if g.Done() {
			o.rd.Drop(g.ID)
			if err := o.l.Remove(g); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

func (o *owner) pending() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n int64
	for _, g := range o.l.Segments() {
		n += g.Records - g.Acked
	}
	return n
}

func (o *owner) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.l == nil {
		return nil
	}
	err := o.l.Close()
	o.rd.Close()
	if uerr := o.l.Unlock(); err == nil {
		err = uerr
	}
	o.l = nil
	return err
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// logBuffer collects JSON log lines so tests can check what was reported.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func jsonLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func record(i int) []byte {
	return fmt.Appendf(nil, "m,device=d%d value=%08d %d\n", i%7, i, 1700000000000000000+int64(i))
}

func records(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = record(from + i)
	}
	return out
}

func wantRecords(t testing.TB, got [][]byte, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d records, want %d", len(got), n)
	}
	for i, r := range got {
		if want := record(from + i); !bytes.Equal(r, want) {
			t.Fatalf("record %d = %q, want %q", i, r, want)
		}
	}
}

// writeSegments builds a closed log holding records 0..n-1 and returns the
// bytes of its segment files, oldest first.
func writeSegments(t *testing.T, n int, segBytes int64) [][]byte {
	t.Helper()
	dir := t.TempDir()
	o := openOwner(t, Options{Dir: dir, SegmentBytes: segBytes})
	o.append(t, records(0, n)...)
	if err := o.close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	var segs [][]byte
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, data)
	}
	return segs
}

// logWith writes segs as segment files 1, 2, ... of a new directory.
func logWith(t testing.TB, segs ...[]byte) string {
	t.Helper()
	dir := t.TempDir()
	for i, data := range segs {
		if err := os.WriteFile(filepath.Join(dir, Name(uint64(i+1))), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
