package influx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/mqflux/mqflux/internal/backoff"
)

// Class is what a failed write means for its batch, the same for every API.
type Class int

const (
	// Retry: a condition to wait out (outage, throttling, timeout, bad
	// credentials); send the same batch again.
	Retry Class = iota
	// Malformed (400, or 422 on some InfluxDB 2 versions): some line in the
	// batch is bad; bisect to find it and reject it.
	Malformed
	// TooLarge (413): the body is over the server's limit; split it.
	TooLarge
)

// WriteError is a write that was not stored, classified.
type WriteError struct {
	Class Class
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Reason labels a Retry: network, timeout, throttled, unauthorized,
	// not_found, server_error or unexpected_status; "" for the others.
	Reason string
	// Message is InfluxDB's own words, or the network error.
	Message string
	// RetryAfter is the answer's Retry-After, if any.
	RetryAfter time.Duration
}

func (e *WriteError) Error() string {
	if e.Status == 0 {
		return e.Message
	}
	return fmt.Sprintf("%d: %s", e.Status, e.Message)
}

// Code is the status as a metric label, or the Reason when no answer came.
func (e *WriteError) Code() string {
	if e.Status == 0 {
		return e.Reason
	}
	return strconv.Itoa(e.Status)
}

// Unauthorized reports whether InfluxDB refused the credentials.
func (e *WriteError) Unauthorized() bool { return e.Reason == "unauthorized" }

// Classify turns any write error into a WriteError: one already is; an
// error of influxdb-client-go carries the status, Retry-After and message;
// anything else got no HTTP answer.
func Classify(err error) *WriteError {
	var we *WriteError
	if errors.As(err, &we) {
		return we
	}
	var he *http2.Error
	if !errors.As(err, &he) || he.StatusCode == 0 {
		return networkError(err)
	}
	return statusError(he.StatusCode, time.Duration(he.RetryAfter)*time.Second, clientMessage(he))
}

// networkError is a request that got no HTTP answer.
func networkError(err error) *WriteError {
	if errors.Is(err, context.DeadlineExceeded) {
		return &WriteError{Class: Retry, Reason: "timeout", Message: err.Error()}
	}
	return &WriteError{Class: Retry, Reason: "network", Message: err.Error()}
}

// statusError maps an HTTP status other than 2xx to its class, the same
// for every API: the three answer bad lines with 400 (422 on some
// InfluxDB 2 versions), a body over the limit with 413, and everything
// else is a condition to wait out.
func statusError(status int, retryAfter time.Duration, message string) *WriteError {
	e := &WriteError{Class: Retry, Status: status, Message: message, RetryAfter: retryAfter}
	switch s := status; {
	case s == 400 || s == 422:
		e.Class = Malformed
	case s == 413:
		e.Class = TooLarge
	case s == 429:
		e.Reason = "throttled"
	case s == 401 || s == 403:
		e.Reason = "unauthorized"
	case s == 404:
		e.Reason = "not_found"
	case s >= 500:
		e.Reason = "server_error"
	default:
		e.Reason = "unexpected_status"
	}
	return e
}

// clientMessage picks InfluxDB's own words from the library's error.
// InfluxDB 1.8 answers {"error": "..."}, which the library does not decode,
// but it repeats the message in X-Influxdb-Error, which the library then
// uses; InfluxDB 2 answers {"code": ..., "message": ...}, which it decodes.
func clientMessage(he *http2.Error) string {
	if he.Message != "" {
		return he.Message
	}
	if m := he.Header.Get("X-Influxdb-Error"); m != "" {
		return m
	}
	return he.Error()
}

// RetryAfter reads a Retry-After header (internal/backoff's reader):
// delay-seconds or an HTTP date; 0 when absent or unreadable.
func RetryAfter(v string) time.Duration {
	d, _ := backoff.ParseRetryAfter(v, time.Now())
	return d
}

// Message finds the server's own words in an error answer to a write on
// api (V1 or V3; the library reads V2's).
func Message(api string, h http.Header, body []byte) string {
	if api == V3 {
		return v3Message(h, body)
	}
	return v1Message(h, body)
}

// v1Message reads InfluxDB 1.x's {"error": "..."}; VictoriaMetrics and
// proxies answer plain text.
func v1Message(h http.Header, body []byte) string {
	var answer struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &answer) == nil && answer.Error != "" {
		return answer.Error
	}
	return plainMessage(h, body)
}

// v3LineError is one refused line in an InfluxDB 3 error answer.
type v3LineError struct {
	OriginalLine string `json:"original_line"`
	LineNumber   int    `json:"line_number"`
	ErrorMessage string `json:"error_message"`
}

// v3Message reads InfluxDB 3's {"error": "...", "data": ...}, where data
// is one line error when partial writes are refused and a list of them
// when they are accepted; other answers are plain text.
func v3Message(h http.Header, body []byte) string {
	var answer struct {
		Error string          `json:"error"`
		Data  json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Error == "" {
		return plainMessage(h, body)
	}
	var lines []v3LineError
	data := bytes.TrimSpace(answer.Data)
	switch {
	case bytes.HasPrefix(data, []byte("[")):
		_ = json.Unmarshal(data, &lines)
	case bytes.HasPrefix(data, []byte("{")):
		var one v3LineError
		if json.Unmarshal(data, &one) == nil {
			lines = append(lines, one)
		}
	}
	var b strings.Builder
	b.WriteString(answer.Error)
	for _, l := range lines {
		fmt.Fprintf(&b, "; line %d: %s (%s)", l.LineNumber, l.ErrorMessage, l.OriginalLine)
	}
	return b.String()
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
