package spool

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
)

func benchSpool(b *testing.B, d Durability) *Spool {
	b.Helper()
	s, err := Open(Options{Dir: b.TempDir(), Durability: d, MaxBytes: 1 << 40,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchRecord is a typical reading: one line of line protocol, 200 bytes.
func benchRecord() []byte {
	rec := bytes.Repeat([]byte("x"), 200)
	copy(rec, "env,device=pi-0042,site=lab temperature=21.5,humidity=40.1 ")
	rec[len(rec)-1] = '\n'
	return rec
}

func BenchmarkAppendWrite(b *testing.B) {
	s := benchSpool(b, Write)
	rec := benchRecord()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendFsyncParallel: 64 publishers share fsyncs (group commit).
func BenchmarkAppendFsyncParallel(b *testing.B) {
	s := benchSpool(b, Fsync)
	rec := benchRecord()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Append(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	s.mu.Lock()
	b.ReportMetric(float64(b.N)/float64(max(s.sl.Fsyncs(), 1)), "records/fsync")
	s.mu.Unlock()
}

// BenchmarkNextAck: reading back and acking, per record, in batches of 1000.
func BenchmarkNextAck(b *testing.B) {
	s := benchSpool(b, Write)
	rec := benchRecord()
	for range b.N {
		if err := s.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.ResetTimer()
	ctx := context.Background()
	for got := 0; got < b.N; {
		batch, err := only(s).Next(ctx, 1000, 1<<20, 0)
		if err != nil {
			b.Fatal(err)
		}
		got += len(batch.Records)
		if err := only(s).Ack(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendWriteThreeReaders: the append path with a required and
// two optional readers (the lag check runs on every Append).
func BenchmarkAppendWriteThreeReaders(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), MaxBytes: 1 << 40, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Readers: []ReaderSpec{{Name: "influx", Required: true}, {Name: "vm", MaxLag: 1 << 40}, {Name: "file", MaxLag: 1 << 40}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	rec := benchRecord()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}
