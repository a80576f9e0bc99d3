// Package history reads a device's past values back from InfluxDB for the
// console's charts: one field of one measurement over the last hour, day or
// week, averaged into at most MaxPoints buckets so that a week of readings
// every second still draws quickly.
//
// It speaks InfluxQL through the /query API, authenticated as the first
// output's write API (Reader.API) says: InfluxDB 1.x answers it natively
// ("user:password" as basic authentication); 2.x answers it where the
// bucket has a database/retention-policy mapping (2.x creates one for
// buckets named "db/rp"), with "Authorization: Token"; InfluxDB 3 answers
// it as its v1 compatibility API, with the database in db and the token as
// "Authorization: Bearer". VictoriaMetrics has no InfluxQL: history needs
// an InfluxDB as the first output. No InfluxDB 3 can run in the test
// environment, so v3 is tested against a recorded answer (testdata).
package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
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

// Reader asks one InfluxDB.
type Reader struct {
	URL string
	// API is the writer's write API, "v1", "v2" or "v3", which tells the
	// InfluxDB version and so how to authenticate; "" is "v2".
	API    string
	Bucket string // "database/retention-policy" or "database"
	// Token is the writer's: "user:password" for InfluxDB 1.x (sent as
	// basic authentication), an API token otherwise (sent as "Token" for
	// v1 and v2, "Bearer" for v3).
	Token  string
	Client *http.Client // http.DefaultClient when nil
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
	body, err := r.get(ctx, Statement(q, d, interval))
	if err != nil {
		return Series{}, err
	}
	pts, err := decode(body)
	if err != nil {
		return Series{}, fmt.Errorf("history %s/%s.%s: %w", q.Device, q.Measurement, q.Field, err)
	}
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

func (r Reader) get(ctx context.Context, stmt string) ([]byte, error) {
	db, rp, _ := strings.Cut(r.Bucket, "/")
	params := url.Values{"db": {db}, "q": {stmt}, "epoch": {"ms"}}
	if rp != "" {
		params.Set("rp", rp)
	}
	u := strings.TrimRight(r.URL, "/") + "/query?" + params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("history request: %w", err)
	}
	authorize(req, r.API, r.Token)
	c := r.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("history query %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("history read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("history query %s: %s: %.300s", r.URL, resp.Status, body)
	}
	return body, nil
}

type answer struct {
	Error   string `json:"error"`
	Results []struct {
		Error  string `json:"error"`
		Series []struct {
			Values [][]*float64 `json:"values"`
		} `json:"series"`
	} `json:"results"`
}

func decode(body []byte) ([]Point, error) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("decode answer %.200q: %w", body, err)
	}
	if a.Error != "" {
		return nil, fmt.Errorf("influxdb: %s", a.Error)
	}
	var pts []Point
	for _, res := range a.Results {
		if res.Error != "" {
			return nil, fmt.Errorf("influxdb: %s", res.Error)
		}
		for _, s := range res.Series {
			for _, row := range s.Values {
				if len(row) < 2 || row[0] == nil || row[1] == nil {
					continue
				}
				pts = append(pts, Point{*row[0], *row[1]})
			}
		}
	}
	return pts, nil
}

// authorize sets the credentials InfluxDB's /query takes for api: a
// Bearer token on InfluxDB 3; elsewhere "user:password" as basic
// authentication (InfluxDB 1.x, which takes no Token scheme on /query) and
// an API token (without ':') as "Authorization: Token".
func authorize(req *http.Request, api, token string) {
	if token == "" {
		return
	}
	if api == "v3" {
		req.Header.Set("Authorization", "Bearer "+token)
		return
	}
	if user, password, ok := strings.Cut(token, ":"); ok {
		req.SetBasicAuth(user, password)
		return
	}
	req.Header.Set("Authorization", "Token "+token)
}
