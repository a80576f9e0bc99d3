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
	body, err := e.get(ctx, influxql)
	if err != nil {
		return nil, err
	}
	var a struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string   `json:"error"`
			Series []Series `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("decode answer %.200q: %w", body, err)
	}
	if a.Error != "" {
		return nil, &QueryError{a.Error}
	}
	var out []Series
	for _, r := range a.Results {
		if r.Error != "" {
			return nil, &QueryError{r.Error}
		}
		out = append(out, r.Series...)
	}
	return out, nil
}

func (e Endpoint) get(ctx context.Context, influxql string) ([]byte, error) {
	db, rp := e.DBRP()
	params := url.Values{"db": {db}, "q": {influxql}, "epoch": {"ms"}}
	if rp != "" {
		params.Set("rp", rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.at("/query", params), nil)
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
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxQueryAnswer))
	if err != nil {
		return nil, fmt.Errorf("query %s: read the answer: %w", e.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query %s: %s: %.300s", e.URL, resp.Status, body)
	}
	return body, nil
}
