// Package history reads a device's past values back from InfluxDB for the
// console's charts: one field of one measurement over the last hour, day or
// week, averaged into at most MaxPoints buckets so that a week of readings
// every second still draws quickly.
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

	"github.com/mqflux/mqflux/bridge/influx"
)

// MaxPoints bounds the points of one answer.
const MaxPoints = 1000

// Ranges are the windows a query may cover, by the name the API takes.
var ranges = map[string]time.Duration{
	"1h":  time.Hour,
	"24h": 24 * time.Hour,
	"7d":  7 * 24 * time.Hour,
}

// RangeNames are the accepted values of Query.Range, shortest first.
func RangeNames() []string { return []string{"1h", "24h", "7d"} }

// ErrInvalid marks a query refused before anything was asked of InfluxDB.
var ErrInvalid = errors.New("invalid history query")

// Query is what to read.
type Query struct {
	Device      string
	Measurement string
	Field       string
	Range       string // one of RangeNames
}

// Point is one averaged bucket: its start (Unix milliseconds) and mean.
type Point [2]float64

// Series is the answer to a Query.
type Series struct {
	Device      string  `json:"device"`
	Measurement string  `json:"measurement"`
	Field       string  `json:"field"`
	Range       string  `json:"range"`
	Interval    string  `json:"interval"` // the GROUP BY time bucket
	Points      []Point `json:"points"`   // oldest first
}

// Reader asks one InfluxDB, the first output's query endpoint: its API
// tells how to authenticate (package influx).
type Reader struct {
	Endpoint influx.Endpoint
}

// Read runs q and returns its points.
func (r Reader) Read(ctx context.Context, q Query) (Series, error) {
	d, err := q.check()
	if err != nil {
		return Series{}, err
	}
	interval := bucket(d)
	s := Series{Device: q.Device, Measurement: q.Measurement, Field: q.Field, Range: q.Range,
		Interval: interval.String(), Points: []Point{}}
	series, err := r.Endpoint.Query(ctx, Statement(q, d, interval))
	if err != nil {
		return Series{}, fmt.Errorf("history %s/%s.%s: %w", q.Device, q.Measurement, q.Field, err)
	}
	pts := points(series)
	if pts != nil {
		s.Points = pts
	}
	return s, nil
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

var identEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
var stringEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// Ident quotes an InfluxQL identifier.
func Ident(s string) string { return `"` + identEscaper.Replace(s) + `"` }

// String quotes an InfluxQL string literal.
func String(s string) string { return `'` + stringEscaper.Replace(s) + `'` }

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
