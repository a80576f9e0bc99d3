package influxwriter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxAnswer bounds how much of an error answer is read: InfluxDB's
// messages are short, and a proxy's HTML page need not be kept whole.
const maxAnswer = 64 << 10

// httpSender is the hand-written client of the v1 and v3 write APIs: one
// POST of line protocol to a fixed URL; the APIs differ in the URL, the
// authorization and the shape of their error answers.
type httpSender struct {
	client   *http.Client
	writeURL string
	pingURL  string
	auth     func(*http.Request)
	// message finds the server's own words in an error answer.
	message func(h http.Header, body []byte) string
}

func newHTTPSender(cfg Config, writeURL string, auth func(*http.Request), message func(http.Header, []byte) string) *httpSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Enough idle connections for the pipeline's concurrent writes, so
	// none of them pays for a new connection per batch.
	tr.MaxIdleConnsPerHost = 64
	var rt http.RoundTripper = tr
	if cfg.Gzip {
		rt = newGzipTransport(tr, gzipLevel) // as the v2 client's bodies are (gzip.go)
	}
	return &httpSender{
		// No client timeout: each request runs under a context with
		// cfg.Timeout, which allows sub-second values.
		client:   &http.Client{Transport: rt},
		writeURL: writeURL,
		pingURL:  strings.TrimRight(cfg.URL, "/") + "/ping",
		auth:     auth,
		message:  message,
	}
}

func (s *httpSender) write(ctx context.Context, body string) result {
	req, err := s.request(ctx, body)
	if err != nil {
		return result{outcome: retry, code: "network", reason: "network", message: err.Error()}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return networkResult(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 == 2 {
		return result{outcome: stored}
	}
	if err != nil && len(answer) == 0 {
		// The status is known, so the answer still counts; its words are
		// whatever could be read.
		answer = []byte(err.Error())
	}
	return statusResult(resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), s.message(resp.Header, answer))
}

func (s *httpSender) request(ctx context.Context, body string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.writeURL, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("write request %s: %w", s.writeURL, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	s.auth(req)
	return req, nil
}

// ping counts any HTTP answer as reachable: whether the credentials and
// the database are right only a write can tell.
func (s *httpSender) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.pingURL, nil)
	if err != nil {
		return fmt.Errorf("ping request %s: %w", s.pingURL, err)
	}
	s.auth(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	return resp.Body.Close()
}

func (s *httpSender) close() { s.client.CloseIdleConnections() }

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date; 0
// when absent or unreadable.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(secs)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// plainMessage is an answer's text when it has no known structure: the
// X-Influxdb-Error header InfluxDB 1.x sets, else the body, else the status.
func plainMessage(h http.Header, body []byte) string {
	if m := h.Get("X-Influxdb-Error"); m != "" {
		return m
	}
	if m := strings.TrimSpace(string(body)); m != "" {
		return m
	}
	return "no message"
}
