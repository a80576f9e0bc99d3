package influxwriter

import (
	"context"
	"errors"
	"strconv"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// A sender makes one write request in one API's dialect and says what the
// answer means. The Writer's store logic (bisecting, splitting, retrying)
// sits above it and is the same for every API.
type sender interface {
	// write sends body once. The result is stored, malformed, tooLarge or
	// retry; the caller tells a cancelled context from a failure.
	write(ctx context.Context, body string) result
	// ping returns nil when the server answers at all.
	ping(ctx context.Context) error
	// close releases idle connections.
	close()
}

// newSender builds the sender for cfg.API; cfg is validated and defaulted.
func newSender(cfg Config) sender {
	switch cfg.API {
	case APIv1:
		return newV1Sender(cfg)
	case APIv3:
		return newV3Sender(cfg)
	}
	return newClientSender(cfg)
}

// clientSender speaks /api/v2/write through influxdb-client-go's blocking
// write API; its non-blocking one drops batches when its buffer fills, so
// the retries stay with the Writer.
type clientSender struct {
	client influxdb2.Client
	api    api.WriteAPIBlocking
}

func newClientSender(cfg Config) *clientSender {
	// The client's own timeout is a backstop a second past ours: each request
	// runs under a context with cfg.Timeout, which allows sub-second values.
	opts := influxdb2.DefaultOptions().
		SetUseGZip(false).
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(cfg.Timeout/time.Second) + 2)
	if cfg.Gzip {
		// Compressed by our transport, not the library (gzip.go).
		hc := opts.HTTPOptions().HTTPClient()
		hc.Transport = newGzipTransport(hc.Transport, gzipLevel)
	}
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	return &clientSender{client: client, api: client.WriteAPIBlocking(cfg.Org, cfg.Bucket)}
}

func (s *clientSender) write(ctx context.Context, body string) result {
	if err := s.api.WriteRecord(ctx, body); err != nil {
		return classify(err)
	}
	return result{outcome: stored}
}

func (s *clientSender) ping(ctx context.Context) error {
	ok, err := s.client.Ping(ctx)
	if ok {
		return nil
	}
	if err == nil {
		err = errors.New("no answer")
	}
	return err
}

func (s *clientSender) close() { s.client.Close() }

// classify turns the client library's error into a result.
func classify(err error) result {
	var he *http2.Error
	if !errors.As(err, &he) || he.StatusCode == 0 {
		return networkResult(err)
	}
	return statusResult(he.StatusCode, time.Duration(he.RetryAfter)*time.Second, influxMessage(he))
}

// networkResult is the result of a request that got no HTTP answer.
func networkResult(err error) result {
	if errors.Is(err, context.DeadlineExceeded) {
		return result{outcome: retry, code: "timeout", reason: "timeout", message: err.Error()}
	}
	return result{outcome: retry, code: "network", reason: "network", message: err.Error()}
}

// statusResult maps an HTTP status other than 2xx to what the writer does,
// the same for every API: the three answer bad lines with 400 (422 on some
// InfluxDB 2 versions), a body over the limit with 413, and everything
// else is a condition to wait out.
func statusResult(status int, retryAfter time.Duration, message string) result {
	res := result{code: strconv.Itoa(status), message: message, retryAfter: retryAfter, outcome: retry}
	switch s := status; {
	case s == 400 || s == 422:
		res.outcome = malformed
	case s == 413:
		res.outcome = tooLarge
	case s == 429:
		res.reason = "throttled"
	case s == 401 || s == 403:
		res.reason = "unauthorized"
	case s == 404:
		res.reason = "not_found"
	case s >= 500:
		res.reason = "server_error"
	default:
		res.reason = "unexpected_status"
	}
	return res
}

// influxMessage picks InfluxDB's own words. InfluxDB 1.8 answers
// {"error": "..."}, which the library does not decode, but it repeats the
// message in X-Influxdb-Error, which the library then uses; InfluxDB 2
// answers {"code": ..., "message": ...}, which it decodes.
func influxMessage(he *http2.Error) string {
	if he.Message != "" {
		return he.Message
	}
	if m := he.Header.Get("X-Influxdb-Error"); m != "" {
		return m
	}
	return he.Error()
}
