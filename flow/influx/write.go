package influx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
)

// maxAnswer bounds how much of an error answer is read: InfluxDB's
// messages are short, and a proxy's HTML page need not be kept whole.
const maxAnswer = 64 << 10

// Writer makes one write request of line protocol in its API's dialect.
// Retrying, splitting and bisecting are the caller's, the same for every
// API, driven by the WriteError's Class.
type Writer interface {
	// Write sends body once: nil when stored, else a *WriteError. The
	// caller tells a cancelled context from a failure.
	Write(ctx context.Context, body string) error
	// Ping returns nil when the server answers at all: whether the
	// credentials and the database are right only a write can tell.
	Ping(ctx context.Context) error
	// Close releases idle connections.
	Close()
}

// WriteOptions are what a Writer needs beyond its Endpoint.
type WriteOptions struct {
	// Org is the organization of the v2 write API (ignored by InfluxDB 1.8).
	Org string
	// Transport, when set, wraps the HTTP transport (e.g. to compress
	// request bodies).
	Transport func(http.RoundTripper) http.RoundTripper
}

// NewWriter is the Writer for e.API; e is validated.
func (e Endpoint) NewWriter(o WriteOptions) Writer {
	switch e.API {
	case V1:
		return e.newV1Writer(o)
	case V3:
		return e.newV3Writer(o)
	}
	return e.newClientWriter(o)
}

// clientWriter speaks /api/v2/write through influxdb-client-go's blocking
// write API; its non-blocking one drops batches when its buffer fills, so
// the retries stay with the caller.
type clientWriter struct {
	client influxdb2.Client
	api    api.WriteAPIBlocking
}

func (e Endpoint) newClientWriter(o WriteOptions) *clientWriter {
	// The client's own timeout is a backstop a second past ours: each
	// request runs under a context with e.Timeout, which allows sub-second
	// values.
	opts := influxdb2.DefaultOptions().
		SetUseGZip(false).
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(e.Timeout/time.Second) + 2)
	if o.Transport != nil {
		hc := opts.HTTPOptions().HTTPClient()
		hc.Transport = o.Transport(hc.Transport)
	}
	client := influxdb2.NewClientWithOptions(e.URL, e.Token, opts)
	return &clientWriter{client: client, api: client.WriteAPIBlocking(o.Org, e.Bucket)}
}

func (w *clientWriter) Write(ctx context.Context, body string) error {
	if err := w.api.WriteRecord(ctx, body); err != nil {
		return Classify(err)
	}
	return nil
}

func (w *clientWriter) Ping(ctx context.Context) error {
	ok, err := w.client.Ping(ctx)
	if ok {
		return nil
	}
	if err == nil {
		err = errors.New("no answer")
	}
	return err
}

func (w *clientWriter) Close() { w.client.Close() }

// newV1Writer writes to InfluxDB 1.x's /write (VictoriaMetrics serves the
// same endpoint, taking db as a tag), authorized as Authorize says.
func (e Endpoint) newV1Writer(o WriteOptions) *httpWriter {
	db, rp := e.DBRP()
	q := url.Values{"db": {db}, "precision": {"ns"}}
	if rp != "" {
		q.Set("rp", rp)
	}
	return e.newHTTPWriter(o, e.at("/write", q))
}

// newV3Writer writes to InfluxDB 3's /api/v3/write_lp with
// accept_partial=false, so that a request is stored whole or not at all
// and the caller's bisecting finds the bad lines exactly as with the other
// APIs, and no_sync=false, so that a 204 means the WAL holds the lines.
func (e Endpoint) newV3Writer(o WriteOptions) *httpWriter {
	q := url.Values{
		"db":             {e.Bucket},
		"precision":      {"nanosecond"},
		"accept_partial": {"false"},
		"no_sync":        {"false"},
	}
	return e.newHTTPWriter(o, e.at("/api/v3/write_lp", q))
}

// httpWriter is the net/http client of the v1 and v3 write APIs, which
// influxdb-client-go does not speak: one POST of line protocol to a fixed
// URL; the APIs differ in the URL, the authorization and the shape of
// their error answers.
type httpWriter struct {
	e        Endpoint
	client   *http.Client
	writeURL string
}

func (e Endpoint) newHTTPWriter(o WriteOptions, writeURL string) *httpWriter {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Enough idle connections for the pipeline's concurrent writes, so
	// none of them pays for a new connection per batch.
	tr.MaxIdleConnsPerHost = 64
	var rt http.RoundTripper = tr
	if o.Transport != nil {
		rt = o.Transport(tr)
	}
	// No client timeout: each request runs under a context with e.Timeout,
	// which allows sub-second values.
	return &httpWriter{e: e, client: &http.Client{Transport: rt}, writeURL: writeURL}
}

func (w *httpWriter) Write(ctx context.Context, body string) error {
	if w.e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.e.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.writeURL, strings.NewReader(body))
	if err != nil {
		return networkError(fmt.Errorf("write request %s: %w", w.writeURL, err))
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	w.e.Authorize(req)
	resp, err := w.client.Do(req)
	if err != nil {
		return networkError(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	if err != nil && len(answer) == 0 {
		// The status is known, so the answer still counts; its words are
		// whatever could be read.
		answer = []byte(err.Error())
	}
	return statusError(resp.StatusCode, RetryAfter(resp.Header.Get("Retry-After")), Message(w.e.API, resp.Header, answer))
}

func (w *httpWriter) Ping(ctx context.Context) error {
	pingURL := strings.TrimRight(w.e.URL, "/") + "/ping"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pingURL, nil)
	if err != nil {
		return fmt.Errorf("ping request %s: %w", pingURL, err)
	}
	w.e.Authorize(req)
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	return resp.Body.Close()
}

func (w *httpWriter) Close() { w.client.CloseIdleConnections() }
