package shim_test

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
)

// countingSink checks that readings arrive one by one, in order, each with
// the value of its line number, and keeps nothing but a count.
type countingSink struct {
	n      atomic.Int64
	topic  string
	mu     sync.Mutex
	errors []string
}

func (s *countingSink) IngestReading(r ingest.Reading, received time.Time) error {
	topic, payload := published(r, received)
	want := s.n.Add(1)
	v, ok := strings.CutPrefix(string(payload), `{"value":`)
	v, _, _ = strings.Cut(v, ",")
	got, err := strconv.ParseFloat(v, 64)
	if topic != s.topic || !ok || err != nil || got != float64(want) || (want%1000 == 0 && !json.Valid(payload)) {
		s.mu.Lock()
		if len(s.errors) < 5 {
			s.errors = append(s.errors, fmt.Sprintf("reading %d: %s %s", want, topic, payload))
		}
		s.mu.Unlock()
	}
	return nil
}

// writeStream writes n readings, generated on the fly, never held in memory.
// Every 1000th line is blank and lines end in CRLF now and then, as files
// copied between systems do.
func writeStream(w io.Writer, n int) error {
	bw := bufio.NewWriter(w)
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	line := make([]byte, 0, 128+streamPad)
	pad := strings.Repeat("x", streamPad)
	for i := 1; i <= n; i++ {
		line = line[:0]
		if i%1000 == 0 {
			line = append(line, '\n')
		}
		line = append(line, `{"sensor": "speed", "value": `...)
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, `, "timestamp": "`...)
		line = start.Add(time.Duration(i)*time.Millisecond).AppendFormat(line, time.RFC3339Nano)
		line = append(line, '"')
		if streamPad > 0 {
			line = append(line, `, "note": "`...)
			line = append(line, pad...)
			line = append(line, '"')
		}
		line = append(line, '}')
		if i%7 == 0 {
			line = append(line, '\r')
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// heapPeak samples HeapInuse until stop is closed and returns the largest.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

func TestIngestMillionLines(t *testing.T) {
	const n = streamLines
	const heapLimit = 32 << 20
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", compress), func(t *testing.T) {
			sink := &countingSink{topic: "devices/lada-1/sensors/speed"}
			h := newHarness(t, testConfig(), sink)

			pr, pw := io.Pipe()
			go func() {
				var w io.Writer = pw
				var zw *gzip.Writer
				if compress {
					zw = gzip.NewWriter(pw)
					w = zw
				}
				err := writeStream(w, n)
				if zw != nil && err == nil {
					err = zw.Close()
				}
				pw.CloseWithError(err)
			}()
			req := newRequest(t, http.MethodPost, h.srv.URL+"/ingest", pr, ingHeader)
			if compress {
				req.Header.Set("Content-Encoding", "gzip")
			}

			runtime.GC()
			stop := make(chan struct{})
			peak := heapPeak(stop)
			got := do(t, req)
			close(stop)

			if got.status != 200 || got.body != fmt.Sprintf("{\"accepted\":%d}\n", n) {
				t.Fatalf("got %d %q, want 200 accepted %d", got.status, got.body, n)
			}
			if c := sink.n.Load(); c != n {
				t.Errorf("sink got %d readings, want %d", c, n)
			}
			if len(sink.errors) > 0 {
				t.Errorf("readings out of order or malformed: %v", sink.errors)
			}
			p := <-peak
			t.Logf("%d lines, %d bytes each, HeapInuse peak during the stream: %.1f MiB", n, 80+streamPad, float64(p)/(1<<20))
			if p > heapLimit {
				t.Errorf("HeapInuse peaked at %d bytes, want under %d: the stream is being buffered", p, heapLimit)
			}
		})
	}
}

// TestIngestResume shows a client resuming after a refusal: the lines before
// the bad one stay stored, and sending again from the reported line (once
// fixed) stores the rest exactly once.
func TestIngestResume(t *testing.T) {
	sink := &recordingSink{}
	h := newHarness(t, testConfig(), sink)
	all := []string{
		`{"sensor": "speed", "value": 1, "timestamp": "2012-04-23T18:25:43.511Z"}`,
		`{"sensor": "rpm", "value": 2, "timestamp": "2012-04-23T18:25:44Z"}`,
		`{"sensor": "speed", "value": "3", "timestamp": "2012-04-23T18:25:45Z"}`,
		`{"sensor": "speed", "value": 4, "timestamp": "2012-04-23T18:25:46Z"}`,
	}
	got := do(t, newRequest(t, http.MethodPost, h.srv.URL+"/ingest", strings.NewReader(lines(all...)), ingHeader))
	want := `{"error":"line 3: \"value\": want a number, got a string","line":3,"reason":"bad_line","accepted":2}` + "\n"
	if got.status != 400 || got.body != want {
		t.Fatalf("got %d %s, want 400 %s", got.status, got.body, want)
	}
	all[2] = strings.Replace(all[2], `"3"`, `3`, 1)
	got = do(t, newRequest(t, http.MethodPost, h.srv.URL+"/ingest", strings.NewReader(lines(all[2:]...)), ingHeader))
	if got.status != 200 || got.body != "{\"accepted\":2}\n" {
		t.Fatalf("resume: got %d %s", got.status, got.body)
	}
	var topics []string
	for _, m := range sink.messages() {
		topics = append(topics, m.topic+" "+m.payload)
	}
	wantTopics := []string{
		`devices/lada-1/sensors/speed {"value":1.0,"time":"2012-04-23T18:25:43.511Z"}`,
		`devices/lada-1/sensors/rpm {"value":2.0,"time":"2012-04-23T18:25:44Z"}`,
		`devices/lada-1/sensors/speed {"value":3.0,"time":"2012-04-23T18:25:45Z"}`,
		`devices/lada-1/sensors/speed {"value":4.0,"time":"2012-04-23T18:25:46Z"}`,
	}
	if strings.Join(topics, "\n") != strings.Join(wantTopics, "\n") {
		t.Errorf("sink holds\n%s\nwant\n%s", strings.Join(topics, "\n"), strings.Join(wantTopics, "\n"))
	}
}
