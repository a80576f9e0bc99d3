package shim_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
	"github.com/mqflux/mqflux/flow/shim"
	"github.com/mqflux/mqflux/passwd"
)

// The keys every test server knows.
const (
	anyKey   = "any-device-key-0001" // device "*"
	pumpKey  = "pump-only-key-0002"  // device "pump-7"
	nodeID   = "3f2b8c1e-6d4a-4e2b-9f1a-7c5d2e8b4a10"
	pumpName = "pump-7"
)

// hashes are made once: bcrypt at its minimum cost still takes a moment.
var hashes = sync.OnceValue(func() [2]string {
	var h [2]string
	for i, k := range []string{anyKey, pumpKey} {
		var err error
		if h[i], err = passwd.Hash([]byte(k), bcrypt.MinCost); err != nil {
			panic(err)
		}
	}
	return h
})

func testConfig() shim.Config {
	h := hashes()
	return shim.Config{
		Parameters:     []string{"temperature", "humidity", "pressure"},
		Keys:           []shim.Key{{KeyHash: h[0], Device: "*"}, {KeyHash: h[1], Device: pumpName}},
		MaxBodyBytes:   4 << 10,
		MaxStreamBytes: 1 << 30,
		MaxLineBytes:   1 << 10,
	}
}

// message is one call to the sink.
type message struct {
	topic    string
	payload  string
	received time.Time
}

// recordingSink keeps what it is given, or answers with err.
type recordingSink struct {
	mu   sync.Mutex
	msgs []message
	err  error
	// failAfter, when > 0, accepts that many messages before answering err.
	failAfter int
}

func (s *recordingSink) IngestReading(r ingest.Reading, received time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil && len(s.msgs) >= s.failAfter {
		return s.err
	}
	topic, payload := published(r, received)
	s.msgs = append(s.msgs, message{topic, string(payload), received})
	return nil
}

// published is what a reading the shim hands over looks like to an MQTT
// subscriber: the topic and payload the broker passes it on with.
func published(r ingest.Reading, received time.Time) (string, []byte) {
	at := r.Time
	if at.IsZero() {
		at = received
	}
	return "devices/" + r.Device + "/sensors/" + r.Measurement, point.AppendJSON(nil, r.Fields, at)
}

func (s *recordingSink) messages() []message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message(nil), s.msgs...)
}

// harness is a shim behind a real HTTP server.
type harness struct {
	srv *httptest.Server
	reg *prometheus.Registry
	log *bytes.Buffer
	mu  *sync.Mutex
}

func newHarness(t testing.TB, cfg shim.Config, sink ingest.ReadingSink) *harness {
	t.Helper()
	h := &harness{log: new(bytes.Buffer), mu: new(sync.Mutex), reg: prometheus.NewRegistry()}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: h.log, mu: h.mu}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := shim.New(cfg, sink, logger)
	if err != nil {
		t.Fatalf("shim.New: %v", err)
	}
	h.reg.MustRegister(s.Collectors()...)
	mux := http.NewServeMux()
	s.Routes(mux)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *harness) logText() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

// counter reads one series of a counter from the registry.
func (h *harness) counter(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// response is what a test compares.
type response struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", req.Method, req.URL.Path, err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func newRequest(t testing.TB, method, url string, body io.Reader, header map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	return req
}

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = io.WriteString(zw, s)
	_ = zw.Close()
	return b.String()
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
