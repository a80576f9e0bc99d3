package influxwriter

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// No InfluxDB 3 server can run in the test environment, so the v3 API is
// tested against a recorded contract: testdata/v3 holds what InfluxDB 3
// Core documents for write_lp (each file says which documented behaviour it
// stands for), and v3Server answers with those files.

// v3Request is what every write request must look like.
type v3Request struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   map[string]string `json:"query"`
	Headers map[string]string `json:"headers"`
}

// v3Answer is one recorded answer.
type v3Answer struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func loadV3(t *testing.T, name string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "v3", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("testdata/v3/%s.json: %v", name, err)
	}
}

// v3Server checks each request against testdata/v3/request.json and lets
// answer pick the recorded answer for it from its lines (1-based numbers
// as InfluxDB counts them) and its number among the requests.
type v3Server struct {
	*httptest.Server
	t      *testing.T
	want   v3Request
	mu     sync.Mutex
	stored map[string]int // line -> times written by a 204
	times  []time.Time    // arrival of each request
}

// v3Choice is the recorded answer for one request; Line is the request's
// first bad line (1-based) when the answer names one.
type v3Choice struct {
	Name     string
	Line     int
	Original string
}

func newV3Server(t *testing.T, answer func(lines []string, n int) v3Choice) *v3Server {
	s := &v3Server{t: t, stored: map[string]int{}}
	loadV3(t, "request", &s.want)
	s.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		lines := s.check(r)
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		n := len(s.times)
		s.mu.Unlock()
		c := answer(lines, n)
		var a v3Answer
		loadV3(t, c.Name, &a)
		if a.Status/100 == 2 {
			s.mu.Lock()
			for _, l := range lines {
				s.stored[l]++
			}
			s.mu.Unlock()
		}
		orig, _ := json.Marshal(c.Original)
		body := strings.NewReplacer("{{line_number}}", strconv.Itoa(c.Line),
			"{{original_line}}", strings.Trim(string(orig), `"`)).Replace(a.Body)
		for k, v := range a.Headers {
			rw.Header().Set(k, v)
		}
		rw.WriteHeader(a.Status)
		_, _ = io.WriteString(rw, body)
	}))
	t.Cleanup(s.Close)
	return s
}

// check asserts the request is a write_lp request as documented and
// returns its lines.
func (s *v3Server) check(r *http.Request) []string {
	t := s.t
	if r.Method != s.want.Method || r.URL.Path != s.want.Path {
		t.Errorf("request %s %s, want %s %s", r.Method, r.URL.Path, s.want.Method, s.want.Path)
	}
	q := r.URL.Query()
	if len(q) != len(s.want.Query) {
		t.Errorf("query %v, want exactly %v", q, s.want.Query)
	}
	for k, v := range s.want.Query {
		if got := q.Get(k); got != v {
			t.Errorf("query %s=%q, want %q", k, got, v)
		}
	}
	for k, v := range s.want.Headers {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s: %q, want %q", k, got, v)
		}
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("gzip body: %v", err)
			return nil
		}
		body = zr
	}
	var lines []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Errorf("read body: %v", err)
	}
	return lines
}

func (s *v3Server) storedLines() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.stored))
	for k, v := range s.stored {
		out[k] = v
	}
	return out
}

func (s *v3Server) arrivals() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

func newV3Writer(t *testing.T, url string) *Writer {
	return newTestWriter(t, url, "apiv3_contract-token", "sensors", func(c *Config) {
		c.API, c.Gzip = APIv3, true
		c.MinBackoff, c.MaxBackoff = time.Millisecond, 10*time.Millisecond
	})
}

// firstBad answers name for the first line containing "BAD", else stored.
func firstBad(name string) func(lines []string, n int) v3Choice {
	return func(lines []string, _ int) v3Choice {
		for i, l := range lines {
			if strings.Contains(l, "BAD") {
				return v3Choice{Name: name, Line: i + 1, Original: l}
			}
		}
		return v3Choice{Name: "stored"}
	}
}

// TestV3ContractBadLines: InfluxDB 3 refuses a whole request for one bad
// line (accept_partial=false); the writer finds each bad line, rejects it
// with InfluxDB's words and has every other line stored exactly once.
func TestV3ContractBadLines(t *testing.T) {
	tests := []struct {
		answer  string
		bad     map[int]string
		wantMsg string
	}{
		{"stored", nil, ""},
		{"schema_conflict", map[int]string{500: `m,device=BAD v="text" %d`}, "invalid column type for column 'v'"},
		{"unparseable", map[int]string{0: "m,device=BAD %d", 17: "m,device=BAD %d", 999: "m,device=BAD %d"}, "No fields were provided"},
	}
	for _, tc := range tests {
		t.Run(tc.answer, func(t *testing.T) {
			srv := newV3Server(t, firstBad(tc.answer))
			w := newV3Writer(t, srv.URL)
			recs := lines("m", 1000, 1764000000000000000)
			for i, r := range tc.bad {
				recs[i] = fmt.Appendf(nil, r+"\n", i)
			}
			rejected, err := w.Write(t.Context(), recs)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if len(rejected) != len(tc.bad) {
				t.Fatalf("rejected %d, want %d:\n%s", len(rejected), len(tc.bad), joinReasons(rejected))
			}
			for _, r := range rejected {
				if _, ok := tc.bad[r.Index]; !ok {
					t.Errorf("record %d rejected but it is good: %s", r.Index, r.Reason)
				}
				for _, want := range []string{"parsing failed for write_lp endpoint", tc.wantMsg, "line 1", "BAD"} {
					if !strings.Contains(r.Reason, want) {
						t.Errorf("record %d reason %q lacks %q", r.Index, r.Reason, want)
					}
				}
			}
			stored := srv.storedLines()
			for i, r := range recs {
				line := strings.TrimSuffix(string(r), "\n")
				_, bad := tc.bad[i]
				if got := stored[line]; bad && got != 0 || !bad && got != 1 {
					t.Fatalf("record %d (%q) stored %d times", i, line, got)
				}
			}
		})
	}
}

// TestV3ContractTooLarge: 413 splits the batch until each part fits.
func TestV3ContractTooLarge(t *testing.T) {
	srv := newV3Server(t, func(lines []string, _ int) v3Choice {
		if len(lines) > 100 {
			return v3Choice{Name: "too_large"}
		}
		return v3Choice{Name: "stored"}
	})
	w := newV3Writer(t, srv.URL)
	recs := lines("big", 1000, 1)
	if rejected, err := w.Write(t.Context(), recs); err != nil || len(rejected) != 0 {
		t.Fatalf("Write = %v, %v", joinReasons(rejected), err)
	}
	if got := len(srv.storedLines()); got != len(recs) {
		t.Fatalf("stored %d distinct lines, want %d", got, len(recs))
	}
	if n := metricSum(t, w.metrics.requests, "code", "413"); n == 0 {
		t.Fatal("no 413: splitting was not exercised")
	}
}

// TestV3ContractTransientFailures: 429, 503 and 500 are waited out
// (honouring Retry-After) and the batch is then stored whole.
func TestV3ContractTransientFailures(t *testing.T) {
	tests := []struct {
		answer, reason string
		retryAfter     time.Duration
	}{
		{"throttled", "throttled", time.Second},
		{"unavailable", "server_error", time.Second},
		{"server_error", "server_error", 0},
	}
	for _, tc := range tests {
		t.Run(tc.answer, func(t *testing.T) {
			srv := newV3Server(t, func(_ []string, n int) v3Choice {
				if n == 1 {
					return v3Choice{Name: tc.answer}
				}
				return v3Choice{Name: "stored"}
			})
			w := newV3Writer(t, srv.URL)
			recs := lines("m", 10, 1)
			if rejected, err := w.Write(t.Context(), recs); err != nil || len(rejected) != 0 {
				t.Fatalf("Write = %v, %v", rejected, err)
			}
			at := srv.arrivals()
			if len(at) != 2 {
				t.Fatalf("%d requests, want 2", len(at))
			}
			// A lower bound only: the retry must not come before the
			// server's Retry-After (backoff alone is at most 10ms here).
			if gap := at[1].Sub(at[0]); gap < tc.retryAfter {
				t.Fatalf("retried after %s, before Retry-After %s", gap, tc.retryAfter)
			}
			if n := metricSum(t, w.metrics.retries, "reason", tc.reason); n != 1 {
				t.Fatalf("retries{%s} = %v, want 1", tc.reason, n)
			}
			if got := len(srv.storedLines()); got != len(recs) {
				t.Fatalf("stored %d lines, want %d", got, len(recs))
			}
			if msg, _ := w.LastError(); !strings.Contains(msg, tc.reason) {
				t.Fatalf("LastError = %q, want the reason %s", msg, tc.reason)
			}
		})
	}
}

// TestV3ContractConfigurationProblems: 401 and 404 are configuration, not
// data: retried until the caller gives up, nothing rejected.
func TestV3ContractConfigurationProblems(t *testing.T) {
	tests := []struct{ answer, reason, words string }{
		{"unauthorized", "unauthorized", ""},
		{"not_found", "not_found", "database not found: sensors"},
	}
	for _, tc := range tests {
		t.Run(tc.answer, func(t *testing.T) {
			srv := newV3Server(t, func([]string, int) v3Choice { return v3Choice{Name: tc.answer} })
			w := newV3Writer(t, srv.URL)
			ctx, cancel := context.WithCancel(t.Context())
			done := writeAsync(ctx, w, lines("m", 10, 1))
			waitFor(t, tc.reason+" retries", func() bool {
				return metricSum(t, w.metrics.retries, "reason", tc.reason) >= 3
			})
			if w.Up() {
				t.Error("Up() = true while the server refuses the writes")
			}
			if msg, _ := w.LastError(); !strings.Contains(msg, tc.words) {
				t.Errorf("LastError = %q, want the server's words %q", msg, tc.words)
			}
			cancel()
			r := receive(t, done)
			if !errors.Is(r.err, context.Canceled) || r.rejected != nil {
				t.Fatalf("Write = %v, %v; want no rejects and context.Canceled", r.rejected, r.err)
			}
			if n := len(srv.storedLines()); n != 0 {
				t.Fatalf("stored %d lines", n)
			}
		})
	}
}

// TestV3Message: both documented error shapes (data one object when
// partial writes are refused, a list when accepted) and plain text.
func TestV3Message(t *testing.T) {
	var conflict, partial v3Answer
	loadV3(t, "schema_conflict", &conflict)
	loadV3(t, "partial_accepted", &partial)
	tests := []struct {
		name, body string
		want       []string
	}{
		{"refused", strings.NewReplacer("{{line_number}}", "2", "{{original_line}}", `m v=\"x\" 1`).Replace(conflict.Body),
			[]string{"parsing failed for write_lp endpoint", "line 2", "invalid column type", `m v="x" 1`}},
		{"partial", partial.Body, []string{"partial write of line protocol occurred", "line 2", "home,room=Sunroom temp=hi 1735549200"}},
		{"plain", "Request body too large", []string{"Request body too large"}},
		{"empty", "", []string{"no message"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := v3Message(http.Header{}, []byte(tc.body))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("v3Message = %q, lacks %q", got, w)
				}
			}
		})
	}
}
