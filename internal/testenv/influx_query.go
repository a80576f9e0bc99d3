package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Series is one series of an InfluxQL answer. Times come back as integer
// nanoseconds (epoch=ns) and every number as a json.Number, so tests compare
// timestamps and integers exactly.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Rows returns the values keyed by column name, one map per row.
func (s Series) Rows() []map[string]any {
	rows := make([]map[string]any, 0, len(s.Values))
	for _, v := range s.Values {
		row := make(map[string]any, len(s.Columns))
		for c, name := range s.Columns {
			if c < len(v) {
				row[name] = v[c]
			}
		}
		rows = append(rows, row)
	}
	return rows
}

type queryResponse struct {
	Results []struct {
		StatementID int      `json:"statement_id"`
		Series      []Series `json:"series"`
		Error       string   `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

// Query runs InfluxQL against the test database and returns the series of
// every statement, in order. Any error, of the request or of a statement,
// fails the test.
func (i *Influx) Query(t testing.TB, q string) []Series {
	t.Helper()
	series, err := i.TryQuery(context.Background(), q)
	if err != nil {
		t.Fatalf("influx query %q: %v", q, err)
	}
	return series
}

// TryQuery is Query for callers that poll or expect an error.
func (i *Influx) TryQuery(ctx context.Context, q string) ([]Series, error) {
	form := url.Values{"q": {q}, "db": {i.Database}, "epoch": {"ns"}}
	body, err := i.post(ctx, "/query", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), http.StatusOK)
	if err != nil {
		return nil, err
	}
	var qr queryResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&qr); err != nil {
		return nil, fmt.Errorf("decode answer %.200q: %w", body, err)
	}
	if qr.Error != "" {
		return nil, fmt.Errorf("influxdb: %s", qr.Error)
	}
	var out []Series
	for _, r := range qr.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("statement %d: %s", r.StatementID, r.Error)
		}
		out = append(out, r.Series...)
	}
	return out, nil
}

// Count returns SELECT count(field) FROM measurement: the number of stored
// points of that measurement having the field, 0 when there are none.
func (i *Influx) Count(t testing.TB, measurement, field string) int {
	t.Helper()
	q := fmt.Sprintf("SELECT count(%s) FROM %s", quoteIdent(field), quoteIdent(measurement))
	series := i.Query(t, q)
	if len(series) == 0 || len(series[0].Values) == 0 {
		return 0
	}
	row := series[0].Values[0]
	if len(row) < 2 {
		t.Fatalf("influx query %q: row %v has no count", q, row)
	}
	n, ok := row[1].(json.Number)
	if !ok {
		t.Fatalf("influx query %q: count %v is %T, not a number", q, row[1], row[1])
	}
	c, err := n.Int64()
	if err != nil {
		t.Fatalf("influx query %q: count %v: %v", q, n, err)
	}
	return int(c)
}

// WriteLines stores line protocol (nanosecond timestamps) straight through
// the 1.x /write endpoint, for tests that need known data in the database.
func (i *Influx) WriteLines(t testing.TB, lines string) {
	t.Helper()
	if err := i.TryWriteLines(context.Background(), lines); err != nil {
		t.Fatalf("influx write: %v", err)
	}
}

// TryWriteLines is WriteLines for callers off the test's goroutine.
func (i *Influx) TryWriteLines(ctx context.Context, lines string) error {
	path := "/write?" + url.Values{"db": {i.Database}, "precision": {"ns"}}.Encode()
	_, err := i.post(ctx, path, "text/plain", strings.NewReader(lines), http.StatusNoContent)
	return err
}

func (i *Influx) post(ctx context.Context, path, contentType string, body io.Reader, want int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.URL+path, body)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", path, err)
	}
	req.Header.Set("Content-Type", contentType)
	if i.User != "" {
		req.SetBasicAuth(i.User, i.Password)
	}
	return roundTrip(req, want)
}

// quoteIdent double-quotes an InfluxQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Flux runs a Flux query through the v2 API (/api/v2/query) and returns the
// CSV answer as InfluxDB wrote it. The server must run with Flux (the default).
func (i *Influx) Flux(t testing.TB, query string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "type": "flux"})
	if err != nil {
		t.Fatalf("flux query: %v", err)
	}
	body, err := i.post(context.Background(), "/api/v2/query", "application/json", bytes.NewReader(b), http.StatusOK)
	if err != nil {
		t.Fatalf("flux query %q: %v", query, err)
	}
	return string(body)
}
