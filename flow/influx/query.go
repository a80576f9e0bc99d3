package influx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxQueryAnswer bounds the answer to one query that Query reads.
const maxQueryAnswer = 64 << 20

// Series is one series of a query's answer; times are Unix milliseconds.
type Series struct {
	Name    string              `json:"name"`
	Columns []string            `json:"columns"`
	Values  [][]json.RawMessage `json:"values"`
}

// QueryError is InfluxDB's refusal of a statement it received (a 200 with
// an error in the answer), in its own words.
type QueryError struct{ Message string }

func (e *QueryError) Error() string { return "influxdb: " + e.Message }

// ErrDatabaseNotFound marks a QueryError on a database that does not
// exist yet.
var ErrDatabaseNotFound = errors.New("database not found")

// Is makes errors.Is(err, ErrDatabaseNotFound) true for that refusal.
func (e *QueryError) Is(target error) bool {
	return target == ErrDatabaseNotFound && strings.HasPrefix(e.Message, "database not found")
}

// Query runs one InfluxQL statement through /query on e's database and
// retention policy (InfluxDB 1.x natively; 2.x where the bucket has a
// database/retention-policy mapping; InfluxDB 3 as its v1 compatibility
// API) and returns the series of its answer, in order. ctx bounds it:
// e.Timeout is the caller's to apply, as a query may want longer than a
// write.
func (e Endpoint) Query(ctx context.Context, influxql string) ([]Series, error) {
	resp, err := e.send(ctx, http.MethodGet, url.Values{"q": {influxql}, "epoch": {"ms"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxQueryAnswer))
	if err != nil {
		return nil, fmt.Errorf("query %s: read the answer: %w", e.URL, err)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("decode answer %.200q: %w", body, err)
	}
	if err := a.err(); err != nil {
		return nil, err
	}
	var out []Series
	for _, r := range a.Results {
		out = append(out, r.Series...)
	}
	return out, nil
}

// answer is the body of a /query answer, or one chunk of it.
type answer struct {
	Error   string `json:"error"`
	Results []struct {
		Error  string   `json:"error"`
		Series []Series `json:"series"`
	} `json:"results"`
}

// err is InfluxDB's refusal in the answer, as a *QueryError; nil when
// there is none.
func (a *answer) err() error {
	if a.Error != "" {
		return &QueryError{a.Error}
	}
	for _, r := range a.Results {
		if r.Error != "" {
			return &QueryError{r.Error}
		}
	}
	return nil
}

// send asks /query with params on e's database and retention policy,
// authorized as e's API wants: a GET with the parameters in the URL, or a
// POST with them as a form (statements that change the database). An
// answer other than 200 is an error carrying the start of its body; the
// caller closes the body of the one returned.
func (e Endpoint) send(ctx context.Context, method string, params url.Values) (*http.Response, error) {
	db, rp := e.DBRP()
	params.Set("db", db)
	if rp != "" {
		params.Set("rp", rp)
	}
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequestWithContext(ctx, method, e.at("/query", nil), strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequestWithContext(ctx, method, e.at("/query", params), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("query request: %w", err)
	}
	e.Authorize(req)
	c := e.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", e.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("query %s: %s: %.300s", e.URL, resp.Status, body)
	}
	return resp, nil
}
