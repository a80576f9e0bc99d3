package spool

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/segment"
	"github.com/mqflux/mqflux/internal/testenv"
)

// The on-disk names and framing the tests build files with.
const (
	frameHeader = segment.FrameHeader
	cursorName  = "cursor"
)

func segmentName(id uint64) string { return segment.Name(id) }

// jsonLogger logs JSON lines into b so tests can check what was reported.
func jsonLogger(b *testenv.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openSpool(t testing.TB, opts Options) *Spool {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func record(i int) []byte {
	return fmt.Appendf(nil, "m,device=d%d value=%08d %d\n", i%7, i, 1700000000000000000+int64(i))
}

func appendN(t testing.TB, s *Spool, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(record(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

// next calls Next with a generous deadline, failing the test on error.
func next(t testing.TB, s *Spool, maxRecords, maxBytes int, linger time.Duration) *Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := only(s).Next(ctx, maxRecords, maxBytes, linger)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return b
}

// drainAll takes and acks every pending record, returning them in order.
func drainAll(t testing.TB, s *Spool) [][]byte {
	t.Helper()
	var out [][]byte
	for s.Stats().Records > 0 {
		b := next(t, s, 1000, 1<<20, 0)
		out = append(out, b.Records...)
		if err := only(s).Ack(b); err != nil {
			t.Fatalf("Ack: %v", err)
		}
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

// only is the one reader of a spool opened without Options.Readers.
func only(s *Spool) *Reader { return s.Reader(DefaultReader) }
