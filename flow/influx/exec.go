package influx

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Exec runs one InfluxQL statement that changes the database (DROP
// SERIES, DELETE) through POST /query on e's database: InfluxDB refuses
// those on a GET. An error in the answer is a *QueryError in InfluxDB's
// own words.
func (e Endpoint) Exec(ctx context.Context, influxql string) error {
	resp, err := e.send(ctx, http.MethodPost, url.Values{"q": {influxql}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("query %s: read the answer: %w", e.URL, err)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("decode answer %.200q: %w", body, err)
	}
	return a.err()
}

var identEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
var stringEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// QuoteIdent quotes an InfluxQL identifier: whatever s holds, it stays
// one name.
func QuoteIdent(s string) string { return `"` + identEscaper.Replace(s) + `"` }

// QuoteString quotes an InfluxQL string literal: whatever s holds, it
// stays one string. InfluxQL strings cannot hold a raw newline; callers
// refuse control characters first (CheckName).
func QuoteString(s string) string { return `'` + stringEscaper.Replace(s) + `'` }

// CheckName refuses what no quoting carries into InfluxQL intact: an
// empty name, a control character (a newline ends a statement's string)
// or invalid UTF-8.
func CheckName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return fmt.Errorf("%q has a control character", s)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", s)
	}
	return nil
}

// DropDeviceSeries is the statement deleting every series tagged
// device=device, in every measurement of the database.
func DropDeviceSeries(device string) string {
	return "DROP SERIES WHERE " + QuoteIdent("device") + " = " + QuoteString(device)
}
