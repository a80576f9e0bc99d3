package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/internal/backoff"
)

// influxQL runs InfluxQL queries over HTTP /query (package influx), which
// both InfluxDB 1.8 and 2.x (through a DBRP mapping) answer.
type influxQL struct {
	endpoint influx.Endpoint
}

func newInfluxQL(rawURL, bucket, token string) *influxQL {
	return &influxQL{endpoint: influx.Endpoint{URL: rawURL, Bucket: bucket, Token: token,
		Client: &http.Client{Timeout: 30 * time.Second}}}
}

type series struct {
	Name   string
	Values [][]any // numbers as json.Number
}

// query runs one statement and returns its series.
func (c *influxQL) query(ctx context.Context, q string) ([]series, error) {
	ss, err := c.endpoint.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", q, err)
	}
	out := make([]series, len(ss))
	for i, s := range ss {
		out[i].Name = s.Name
		for _, raw := range s.Values {
			row := make([]any, len(raw))
			for k, cell := range raw {
				dec := json.NewDecoder(bytes.NewReader(cell))
				dec.UseNumber()
				if err := dec.Decode(&row[k]); err != nil {
					return nil, fmt.Errorf("%q: decode %s: %w", q, cell, err)
				}
			}
			out[i].Values = append(out[i].Values, row)
		}
	}
	return out, nil
}

// measurementsOf is a FROM clause matching the run's readings and probes.
func measurementsOf(m string) string {
	return "/^" + m + "(_probe)?$/"
}

// sumColumn adds up column col of the first row of every series.
func sumColumn(ss []series, col int) (int64, error) {
	var total int64
	for _, s := range ss {
		if len(s.Values) == 0 || len(s.Values[0]) <= col {
			continue
		}
		num, ok := s.Values[0][col].(json.Number)
		n, err := num.Int64()
		if !ok || err != nil {
			return 0, fmt.Errorf("series %s: column %d is %v, want an integer", s.Name, col, s.Values[0][col])
		}
		total += n
	}
	return total, nil
}

// count is the number of points stored for the run so far.
func (c *influxQL) count(ctx context.Context, measurement string) (int64, error) {
	ss, err := c.query(ctx, `SELECT count("value") FROM `+measurementsOf(measurement))
	if err != nil {
		return 0, err
	}
	return sumColumn(ss, 1)
}

// distinct counts stored points and distinct values; every reading of a run
// has its own value, so the difference is readings stored twice.
func (c *influxQL) distinct(ctx context.Context, measurement string) (points, distinct int64, err error) {
	if points, err = c.count(ctx, measurement); err != nil {
		return 0, 0, err
	}
	ss, err := c.query(ctx, `SELECT count(distinct("value")) FROM `+measurementsOf(measurement))
	if err != nil {
		return 0, 0, err
	}
	distinct, err = sumColumn(ss, 1)
	return points, distinct, err
}

// probesVisible returns the values of probes stored at or after ts.
func (c *influxQL) probesVisible(ctx context.Context, measurement string, ts int64) ([]int64, error) {
	q := fmt.Sprintf(`SELECT "value" FROM %q WHERE time >= %d`, probeMeasurement(measurement), ts)
	ss, err := c.query(ctx, q)
	if err != nil {
		return nil, err
	}
	var values []int64
	for _, s := range ss {
		for _, row := range s.Values {
			if len(row) < 2 {
				continue
			}
			num, ok := row[1].(json.Number)
			f, err := num.Float64()
			if !ok || err != nil {
				return nil, fmt.Errorf("probe value %v: want a number", row[1])
			}
			values = append(values, int64(f))
		}
	}
	return values, nil
}

// ping checks that InfluxDB answers before any load is sent.
func (c *influxQL) ping(ctx context.Context) error {
	if _, err := c.query(ctx, "SHOW MEASUREMENTS LIMIT 1"); err != nil {
		return fmt.Errorf("check InfluxDB before the run: %w", err)
	}
	return nil
}

// pollProbes asks InfluxDB every interval which pending probes became
// visible, until ctx ends. A probe's latency is measured to the start of the
// query that first saw it: an upper bound, at most one interval late.
func pollProbes(ctx context.Context, c *influxQL, measurement string, probes *probeLog, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		oldest, ok := probes.oldest()
		if !ok {
			continue
		}
		at := time.Now()
		values, err := c.probesVisible(ctx, measurement, oldest)
		if err != nil {
			if ctx.Err() == nil {
				onErr(err)
			}
			continue
		}
		probes.visible(values, at)
	}
}

// storedWait is the outcome of waiting for the readings to be stored.
type storedWait struct {
	count    int64
	lastGrew time.Time // when the final count was first seen
	complete bool      // the count reached the target
}

// waitStored polls the stored count until it reaches target, stops growing
// for settle, or timeout passes.
func waitStored(ctx context.Context, c *influxQL, measurement string, target int64, timeout, settle, interval time.Duration) (storedWait, error) {
	deadline := time.Now().Add(timeout)
	var w storedWait
	last := int64(-1)
	lastChange := time.Now()
	for {
		n, err := c.count(ctx, measurement)
		if err != nil {
			return w, fmt.Errorf("count stored readings: %w", err)
		}
		now := time.Now()
		if n != last {
			last, lastChange = n, now
			w.count, w.lastGrew = n, now
		}
		if n >= target {
			w.complete = true
			return w, nil
		}
		if now.Sub(lastChange) >= settle || now.After(deadline) {
			return w, nil
		}
		if err := backoff.Sleep(ctx, interval); err != nil {
			return w, err
		}
	}
}
