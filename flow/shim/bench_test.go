package shim_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/shim"
)

type nopSink struct{}

func (nopSink) IngestReading(ingest.Reading, time.Time) error { return nil }

// discardWriter is the cheapest http.ResponseWriter that still checks the
// status, so the benchmarks measure the shim and not a recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

func benchMux(b *testing.B) *http.ServeMux {
	s, err := shim.New(testConfig(), nopSink{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	return mux
}

// BenchmarkLogTemperature is one /v1/log-temperature request through the
// handler, key already verified once (as for a logger posting every minute).
func BenchmarkLogTemperature(b *testing.B) {
	mux := benchMux(b)
	body := []byte(`{"temperature": 21.5, "timestamp": "2025-03-18T10:00:00.123456+00:00"}`)
	rd := bytes.NewReader(body)
	req, err := http.NewRequest(http.MethodPost, "http://mqflux/v1/log-temperature", rd)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-authorization", anyKey)
	req.Header.Set("X-node-id", nodeID)
	w := &discardWriter{h: http.Header{}}
	mux.ServeHTTP(w, req) // pays the key's bcrypt check once, before timing
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		clear(w.h)
		mux.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// lineSource yields the same reading n times without holding the stream.
type lineSource struct {
	line []byte
	left int
	off  int
}

func (s *lineSource) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if s.off == len(s.line) {
			if s.left == 0 {
				break
			}
			s.left--
			s.off = 0
		}
		c := copy(p[n:], s.line[s.off:])
		s.off += c
		n += c
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// BenchmarkIngestLines is one /ingest stream of b.N lines: ns/op is per line.
func BenchmarkIngestLines(b *testing.B) {
	mux := benchMux(b)
	line := []byte(goodLine + "\n")
	src := &lineSource{line: line, left: b.N, off: len(line)}
	req, err := http.NewRequest(http.MethodPost, "http://mqflux/ingest", src)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", ingHeader["Authorization"])
	w := &discardWriter{h: http.Header{}}
	mux.ServeHTTP(w, httpWarmup(b, ingHeader["Authorization"]))
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	mux.ServeHTTP(w, req)
	b.StopTimer()
	if w.status != http.StatusOK {
		b.Fatalf("status %d", w.status)
	}
}

// httpWarmup is a one-line request that pays the key's bcrypt check before
// the timer starts.
func httpWarmup(b *testing.B, auth string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, "http://mqflux/ingest", strings.NewReader(goodLine))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	return req
}
