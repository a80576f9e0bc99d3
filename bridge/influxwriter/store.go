package influxwriter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/mqflux/mqflux/bridge/output"
)

// batch is a run of the caller's records; idx maps each to its index in the
// Write call. Halves share the caller's slices: splitting copies no data.
type batch struct {
	records [][]byte
	idx     []int
}

func (b batch) split() (batch, batch) {
	h := len(b.records) / 2
	return batch{b.records[:h], b.idx[:h]}, batch{b.records[h:], b.idx[h:]}
}

// body joins the records into one request body, the one copy the client
// library's string API requires. A record missing its final '\n' gets one, so
// it cannot run into the next record's first line.
func (b batch) body() (body string, points int) {
	n := 0
	for _, r := range b.records {
		n += len(r) + 1
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, r := range b.records {
		sb.Write(r)
		if len(r) > 0 && r[len(r)-1] != '\n' {
			sb.WriteByte('\n')
		}
	}
	body = sb.String()
	return body, strings.Count(body, "\n")
}

// outcome is what one request means for its batch.
type outcome int

const (
	stored    outcome = iota // 2xx
	malformed                // 400/422: some record in the batch is bad
	tooLarge                 // 413: the body is over the server's limit
	retry                    // anything else: wait and send the same batch again
	cancelled                // the caller's context is done
)

// result is one classified answer.
type result struct {
	outcome    outcome
	code       string        // requests_total label
	reason     string        // retries_total label and health state, for retry
	message    string        // InfluxDB's message or the network error
	retryAfter time.Duration // from the Retry-After header, if any
}

// store writes b until every record is stored or rejected, splitting it on
// 413 and bisecting it on 400 to find the records InfluxDB refuses.
func (w *Writer) store(ctx context.Context, b batch, rejected *[]Rejected) error {
	body, points := b.body()
	for attempt := 0; ; attempt++ {
		res := w.send(ctx, body, points)
		switch res.outcome {
		case stored:
			return nil
		case cancelled:
			return ctx.Err()
		case retry:
			if err := output.Sleep(ctx, w.delay(attempt, res.retryAfter)); err != nil {
				return err
			}
			continue
		case malformed, tooLarge:
			if len(b.records) == 1 {
				*rejected = append(*rejected, Rejected{Index: b.idx[0], Reason: rejectReason(res)})
				w.metrics.rejected.Inc()
				w.log.Debug("influx rejected a record", "index", b.idx[0], "reason", res.message)
				return nil
			}
		}
		// Rewriting the halves is harmless: a point InfluxDB already took
		// from this batch is overwritten by itself (same series and time).
		left, right := b.split()
		if err := w.store(ctx, left, rejected); err != nil {
			return err
		}
		return w.store(ctx, right, rejected)
	}
}

func rejectReason(res result) string {
	if res.outcome == tooLarge {
		return fmt.Sprintf("record alone exceeds InfluxDB's request size limit ([http] max-body-size): %s", res.message)
	}
	return res.message
}

// send makes one request and classifies its answer, updating metrics and
// the up/down state.
func (w *Writer) send(ctx context.Context, body string, points int) result {
	reqCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	start := time.Now()
	err := w.api.WriteRecord(reqCtx, body)
	cancel()
	if err == nil {
		w.metrics.requests.WithLabelValues("2xx").Inc()
		w.metrics.writeSeconds.Observe(time.Since(start).Seconds())
		w.metrics.points.Add(float64(points))
		w.health.reached()
		return result{outcome: stored}
	}
	if ctx.Err() != nil {
		return result{outcome: cancelled}
	}
	res := classify(err)
	w.metrics.requests.WithLabelValues(res.code).Inc()
	switch res.outcome {
	case retry:
		w.metrics.retries.WithLabelValues(res.reason).Inc()
		w.health.failed(res.reason, res.message)
	default:
		w.health.reached()
	}
	return res
}

// classify turns the client library's error into a result.
func classify(err error) result {
	var he *http2.Error
	if !errors.As(err, &he) || he.StatusCode == 0 {
		if errors.Is(err, context.DeadlineExceeded) {
			return result{outcome: retry, code: "timeout", reason: "timeout", message: err.Error()}
		}
		return result{outcome: retry, code: "network", reason: "network", message: err.Error()}
	}
	res := result{
		code:       strconv.Itoa(he.StatusCode),
		message:    influxMessage(he),
		retryAfter: time.Duration(he.RetryAfter) * time.Second,
		outcome:    retry,
	}
	switch s := he.StatusCode; {
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
