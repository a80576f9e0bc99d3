// Package history reads a device's past values back from InfluxDB for the
// console's charts: one field of one measurement over the last 15 minutes
// to 30 days. A range holding at most MaxPoints readings is answered with
// the readings themselves; a busier one is averaged into at most MaxPoints
// buckets, so that a month of readings every second still draws quickly.
// Beside the points come the range's count, min, mean and max (over the
// readings, not the buckets) and the field's first and last reading ever,
// so a chart can start where the device's data starts and an empty range
// can say when the last reading was.
//
// It speaks InfluxQL through package influx's Query, authenticated as the
// first output's write API says: InfluxDB 1.x answers it natively; 2.x
// answers it where the bucket has a database/retention-policy mapping (2.x
// creates one for buckets named "db/rp"); InfluxDB 3 answers it as its v1
// compatibility API. VictoriaMetrics has no InfluxQL: history needs
// an InfluxDB as the first output. No InfluxDB 3 can run in the test
// environment, so v3 is tested against a recorded answer (testdata).
package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/mqflux/mqflux/flow/influx"
)

// MaxPoints bounds the points of one answer. A range holding at most
// this many readings is answered with the readings themselves; a busier
// one with the means of at most MaxPoints buckets.
const MaxPoints = 1000

// Ranges are the windows a query may cover, by the name the API takes.
var ranges = map[string]time.Duration{
	"15m": 15 * time.Minute,
	"1h":  time.Hour,
	"6h":  6 * time.Hour,
	"24h": 24 * time.Hour,
	"7d":  7 * 24 * time.Hour,
	"30d": 30 * 24 * time.Hour,
}

// RangeNames are the accepted values of Query.Range, shortest first.
func RangeNames() []string { return []string{"15m", "1h", "6h", "24h", "7d", "30d"} }

// ErrInvalid marks a query refused before anything was asked of InfluxDB.
var ErrInvalid = errors.New("invalid history query")

// Query is what to read.
type Query struct {
	Device      string
	Measurement string
	Field       string
	Range       string // one of RangeNames
}

// Point is one reading, or one averaged bucket: its time (Unix
// milliseconds; a bucket's start) and value.
type Point [2]float64

// Stats sum up the readings of the whole range (not the buckets' means).
type Stats struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	Max   float64 `json:"max"`
	Last  Point   `json:"last"` // the newest reading in the range
}

// Series is the answer to a Query.
type Series struct {
	Device      string `json:"device"`
	Measurement string `json:"measurement"`
	Field       string `json:"field"`
	Range       string `json:"range"`
	// From and To bound the range (Unix milliseconds), as the server's
	// clock saw it.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// Raw is true when Points are the readings themselves (the range
	// holds at most MaxPoints); Interval is then "".
	Raw      bool    `json:"raw"`
	Interval string  `json:"interval"` // the GROUP BY time bucket
	Points   []Point `json:"points"`   // oldest first
	// Stats are over the range; nil when it holds no reading.
	Stats *Stats `json:"stats"`
	// First is the field's first reading of the device ever, Last its
	// newest: a chart starts at First when it falls inside the range, and
	// an empty range says when the last reading was. nil when none.
	First *Point `json:"first"`
	Last  *Point `json:"last"`
}

// Reader asks one InfluxDB, the first output's query endpoint: its API
// tells how to authenticate (package influx).
type Reader struct {
	Endpoint influx.Endpoint
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Read runs q and returns its points: the range's statistics first, then
// the readings themselves when they are few, else their means per bucket,
// and the field's first and last reading ever.
func (r Reader) Read(ctx context.Context, q Query) (Series, error) {
	d, err := q.check()
	if err != nil {
		return Series{}, err
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	to := now()
	s := Series{Device: q.Device, Measurement: q.Measurement, Field: q.Field, Range: q.Range,
		From: to.Add(-d).UnixMilli(), To: to.UnixMilli(), Points: []Point{}}
	fail := func(err error) (Series, error) {
		return Series{}, fmt.Errorf("history %s/%s.%s: %w", q.Device, q.Measurement, q.Field, err)
	}
	if s.Stats, err = r.stats(ctx, q, d); err != nil {
		return fail(err)
	}
	if s.First, err = r.one(ctx, q, "first"); err != nil {
		return fail(err)
	}
	if s.Last, err = r.one(ctx, q, "last"); err != nil {
		return fail(err)
	}
	if s.Stats == nil {
		return s, nil
	}
	if s.Last != nil {
		s.Stats.Last = *s.Last
	}
	stmt := RawStatement(q, d)
	if s.Raw = s.Stats.Count <= MaxPoints; !s.Raw {
		interval := bucket(d)
		s.Interval = interval.String()
		stmt = Statement(q, d, interval)
	}
	series, err := r.Endpoint.Query(ctx, stmt)
	if err != nil {
		return fail(err)
	}
	if pts := points(series); pts != nil {
		s.Points = pts
	}
	return s, nil
}

// stats asks for the count, min, mean and max of the range, and its
// Last is filled in by Read; nil when the range holds no reading.
func (r Reader) stats(ctx context.Context, q Query, d time.Duration) (*Stats, error) {
	series, err := r.Endpoint.Query(ctx, StatsStatement(q, d))
	if err != nil {
		return nil, err
	}
	row := firstRow(series)
	var count *int64
	var lo, mean, hi *float64
	if len(row) < 5 || json.Unmarshal(row[1], &count) != nil || count == nil || *count == 0 ||
		json.Unmarshal(row[2], &lo) != nil || json.Unmarshal(row[3], &mean) != nil || json.Unmarshal(row[4], &hi) != nil ||
		lo == nil || mean == nil || hi == nil {
		return nil, nil
	}
	return &Stats{Count: *count, Min: *lo, Mean: *mean, Max: *hi}, nil
}

// one is the field's first or last reading ever (selector "first" or
// "last"), nil when there is none.
func (r Reader) one(ctx context.Context, q Query, selector string) (*Point, error) {
	return r.query1(ctx, fmt.Sprintf(`SELECT %s(%s) FROM %s WHERE %s = %s`,
		selector, Ident(q.Field), Ident(q.Measurement), Ident("device"), String(q.Device)))
}

// query1 runs a statement answering one row of time and value.
func (r Reader) query1(ctx context.Context, stmt string) (*Point, error) {
	series, err := r.Endpoint.Query(ctx, stmt)
	if err != nil {
		return nil, err
	}
	pts := points(series)
	if len(pts) == 0 {
		return nil, nil
	}
	return &pts[0], nil
}

func firstRow(series []influx.Series) []json.RawMessage {
	for _, s := range series {
		if len(s.Values) > 0 {
			return s.Values[0]
		}
	}
	return nil
}

func (q Query) check() (time.Duration, error) {
	d, ok := ranges[q.Range]
	if !ok {
		return 0, fmt.Errorf("%w: range %q: want one of %s", ErrInvalid, q.Range, strings.Join(RangeNames(), ", "))
	}
	for name, v := range map[string]string{"device": q.Device, "measurement": q.Measurement, "field": q.Field} {
		if v == "" {
			return 0, fmt.Errorf("%w: %s is required", ErrInvalid, name)
		}
		// InfluxQL strings cannot hold a raw newline; no mapped name
		// holds a control character either.
		if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return 0, fmt.Errorf("%w: %s has a control character", ErrInvalid, name)
		}
	}
	return d, nil
}

// bucket is the GROUP BY time interval that keeps a window of d within
// MaxPoints buckets, counting the partial bucket at each end.
func bucket(d time.Duration) time.Duration {
	secs := int64(math.Ceil(d.Seconds() / (MaxPoints - 2)))
	return time.Duration(max(secs, 1)) * time.Second
}

// Statement is the InfluxQL for q over the last d in buckets of interval,
// every name quoted, so that no device, measurement or field name can
// change the statement.
func Statement(q Query, d, interval time.Duration) string {
	return fmt.Sprintf(`SELECT mean(%s) FROM %s WHERE %s = %s AND time > now() - %ds GROUP BY time(%ds) fill(none)`,
		Ident(q.Field), Ident(q.Measurement), Ident("device"), String(q.Device),
		int64(d/time.Second), int64(interval/time.Second))
}

// RawStatement is the InfluxQL for q's readings over the last d, oldest
// first, at most MaxPoints of them.
func RawStatement(q Query, d time.Duration) string {
	return fmt.Sprintf(`SELECT %s FROM %s WHERE %s = %s AND time > now() - %ds ORDER BY time ASC LIMIT %d`,
		Ident(q.Field), Ident(q.Measurement), Ident("device"), String(q.Device), int64(d/time.Second), MaxPoints)
}

// StatsStatement is the InfluxQL for the count, min, mean and max of q's
// readings over the last d.
func StatsStatement(q Query, d time.Duration) string {
	f := Ident(q.Field)
	return fmt.Sprintf(`SELECT count(%s), min(%s), mean(%s), max(%s) FROM %s WHERE %s = %s AND time > now() - %ds`,
		f, f, f, f, Ident(q.Measurement), Ident("device"), String(q.Device), int64(d/time.Second))
}

// Ident quotes an InfluxQL identifier.
func Ident(s string) string { return influx.QuoteIdent(s) }

// String quotes an InfluxQL string literal.
func String(s string) string { return influx.QuoteString(s) }

// points are the rows of series with both a time and a mean, in order.
func points(series []influx.Series) []Point {
	var pts []Point
	for _, s := range series {
		for _, row := range s.Values {
			if len(row) < 2 {
				continue
			}
			var t, v *float64
			if json.Unmarshal(row[0], &t) != nil || json.Unmarshal(row[1], &v) != nil || t == nil || v == nil {
				continue
			}
			pts = append(pts, Point{*t, *v})
		}
	}
	return pts
}

// Source answers history queries from one store: Reader in InfluxQL, an
// output whose store speaks something else (SQL) through its own.
type Source interface {
	Read(ctx context.Context, q Query) (Series, error)
}

var _ Source = Reader{}

// Window checks q and returns the span it covers and the bucket that
// keeps it within MaxPoints, for a Source of another store; an error
// wraps ErrInvalid.
func Window(q Query) (span, interval time.Duration, err error) {
	d, err := q.check()
	if err != nil {
		return 0, 0, err
	}
	return d, bucket(d), nil
}
