// Package shim serves the legacy HTTP POST API that loggers in the field
// still speak: POST /v1/log-{parameter} (one JSON reading, X-authorization
// key) and POST /ingest (a newline-delimited JSON stream, basic-auth key).
// Every reading is handed, decoded, to the same pipeline as an MQTT publish
// (an ingest.ReadingSink), and a 2xx goes out only once the sink holds it.
package shim

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/passwd"
)

// Shim is the legacy HTTP API. It is safe for concurrent use.
type Shim struct {
	params    []string
	sink      ingest.ReadingSink
	log       *slog.Logger
	keys      *keyring
	maxBody   int64 // 0: no limit
	maxStream int64 // 0: no limit
	maxLine   int

	rejected *prometheus.CounterVec
	readings *prometheus.CounterVec
}

// Option changes how New sets up the Shim.
type Option func(*options)

type options struct {
	checker *passwd.Checker
	tarpit  passwd.Tarpit
}

// WithChecker checks keys with c instead of a Checker of the Shim's own:
// sharing the broker's makes MQTT passwords and HTTP keys draw on one
// bound of bcrypt CPU and one per-address backoff.
func WithChecker(c *passwd.Checker) Option { return func(o *options) { o.checker = c } }

// WithTarpit holds a request whose address is in login backoff in tp
// before its 429 (passwd.Checker.HoldBackoff); without it the 429 is
// answered at once.
func WithTarpit(tp passwd.Tarpit) Option { return func(o *options) { o.tarpit = tp } }

// New checks cfg and returns a Shim that hands readings to sink. A nil logger
// discards the log.
func New(cfg Config, sink ingest.ReadingSink, logger *slog.Logger, opts ...Option) (*Shim, error) {
	if sink == nil {
		return nil, errors.New("legacy http api: no sink to hand readings to")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := checkParameters(cfg.Parameters); err != nil {
		return nil, err
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.checker == nil {
		o.checker = passwd.NewChecker()
	}
	keys, err := newKeyring(cfg.Keys, o.checker, o.tarpit)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]configfile.Size{"max_body_bytes": cfg.MaxBodyBytes, "max_stream_bytes": cfg.MaxStreamBytes, "max_line_bytes": cfg.MaxLineBytes} {
		if v < 0 {
			return nil, fmt.Errorf("http.legacy.%s: %d is negative", name, v)
		}
	}
	s := &Shim{
		params:    slices.Clone(cfg.Parameters),
		sink:      sink,
		log:       logger,
		keys:      keys,
		maxBody:   int64(cfg.MaxBodyBytes),
		maxStream: int64(cfg.MaxStreamBytes),
		maxLine:   int(cfg.MaxLineBytes),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_http_rejected_total",
			Help: "Legacy HTTP requests or stream lines refused, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
		readings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_http_readings_total",
			Help: "Readings the legacy HTTP API handed to the spool, by endpoint.",
		}, []string{"endpoint"}),
	}
	if s.maxLine == 0 {
		s.maxLine = DefaultMaxLineBytes
	}
	if len(cfg.Keys) == 0 {
		logger.Warn("legacy http api has no keys configured: every request will be refused with 401", "config", "http.legacy.keys")
	}
	// Start every endpoint's reading counter at 0 so a dashboard sees the
	// series before the first reading arrives.
	for _, p := range s.params {
		s.readings.WithLabelValues(logPath(p))
	}
	s.readings.WithLabelValues(ingestPath)
	return s, nil
}

// Routes registers every legacy route on mux: POST /v1/log-{parameter} for
// each configured parameter, and POST /ingest. Each path is registered a
// second time without a method so that other methods get the original 405
// body rather than ServeMux's own.
func (s *Shim) Routes(mux *http.ServeMux) {
	for _, p := range s.params {
		h := &logEndpoint{shim: s, param: p, path: logPath(p), okBody: successBody(p)}
		mux.Handle("POST "+h.path, h)
		mux.HandleFunc(h.path, h.wrongMethod)
	}
	st := &streamEndpoint{shim: s}
	mux.Handle("POST "+ingestPath, st)
	mux.HandleFunc(ingestPath, st.wrongMethod)
}

// Collectors returns the shim's metrics for the caller's registry.
func (s *Shim) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.rejected, s.readings}
}

const ingestPath = "/ingest"

func logPath(param string) string { return "/v1/log-" + param }

// successBody is what the original answered: the parameter capitalised.
func successBody(param string) string {
	return string(param[0]-'a'+'A') + param[1:] + " logged successfully\n"
}

func checkParameters(params []string) error {
	seen := make(map[string]bool, len(params))
	for i, p := range params {
		if !validParameter(p) {
			return fmt.Errorf("http.legacy.parameters[%d]: %q is not a parameter name: lower-case letters, digits and '_', starting with a letter, at most 64", i, p)
		}
		if seen[p] {
			return fmt.Errorf("http.legacy.parameters[%d]: %q is listed twice", i, p)
		}
		seen[p] = true
	}
	return nil
}

func validParameter(p string) bool {
	if len(p) == 0 || len(p) > 64 || p[0] < 'a' || p[0] > 'z' {
		return false
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// validName reports whether s can be a device or sensor name: one MQTT topic
// level without wildcards, the same rule config applies to device names.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
