package influxwriter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/backoff"
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

// body joins the records into one request body, the one copy every
// sender needs (the client library's API takes a string). A record missing its final '\n' gets one, so
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
			if err := backoff.Sleep(ctx, w.delay(attempt, res.retryAfter)); err != nil {
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
	res := classify(w.sender.Write(reqCtx, body))
	cancel()
	if res.outcome == stored {
		w.metrics.requests.WithLabelValues("2xx").Inc()
		w.metrics.writeSeconds.Observe(time.Since(start).Seconds())
		w.metrics.points.Add(float64(points))
		w.health.Reached()
		return result{outcome: stored}
	}
	if ctx.Err() != nil {
		return result{outcome: cancelled}
	}
	w.metrics.requests.WithLabelValues(res.code).Inc()
	switch res.outcome {
	case retry:
		w.metrics.retries.inc(res.reason)
		w.health.Failed(res.reason, res.message)
	default:
		w.health.Reached()
	}
	return res
}
