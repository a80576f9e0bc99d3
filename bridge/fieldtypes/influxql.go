package fieldtypes

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxResponse bounds the answer to SHOW FIELD KEYS that Load reads: the
// Store holds at most DefaultMax pairs anyway.
const maxResponse = 64 << 20

// InfluxQL asks an InfluxDB for the field types it holds, with InfluxQL's
// SHOW FIELD KEYS through the /query API: InfluxDB 1.x has it, InfluxDB 2.x
// has it as its v1 compatibility API where the bucket is mapped to a
// database, and so does InfluxDB 3 (tested against a recorded answer: no
// InfluxDB 3 runs in the test environment). VictoriaMetrics has no
// InfluxQL: learning field types needs an InfluxDB as the first output.
type InfluxQL struct {
	URL string // e.g. http://127.0.0.1:8086
	// API is the writer's write API, "v1", "v2" or "v3", which tells the
	// InfluxDB version and so how to authenticate; "" is "v2".
	API string
	// Bucket is "database/retention-policy" or "database" (InfluxDB 1.x),
	// or the bucket name (InfluxDB 2.x), as the writer is given it.
	Bucket string
	// Token is the writer's: "user:password" for InfluxDB 1.x (sent as
	// basic authentication), an API token for InfluxDB 2.x (sent as
	// "Authorization: Token ...") or 3 (sent as "Authorization: Bearer
	// ..."). Empty: no authorization.
	Token  string
	Client *http.Client // http.DefaultClient when nil
}

// Source is a first output that can say which field types it holds.
type Source interface {
	FieldKeys(ctx context.Context) ([]Field, error)
}

// Load confirms in s the field types InfluxDB holds in the bucket
// (Store.Relearn) and returns how many fields InfluxDB named. A database
// that does not exist yet holds nothing and is no error.
func (q InfluxQL) Load(ctx context.Context, s *Store) (int, error) {
	fields, err := q.FieldKeys(ctx)
	if err != nil {
		return 0, err
	}
	s.Relearn(fields)
	return len(fields), nil
}

// FieldKeys is InfluxDB's answer to SHOW FIELD KEYS on the bucket, in its
// order; empty when the database does not exist yet.
func (q InfluxQL) FieldKeys(ctx context.Context) ([]Field, error) {
	body, err := q.query(ctx)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Error   string `json:"error"`
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Name   string     `json:"name"`
				Values [][]string `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("show field keys: decode the answer: %w", err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("show field keys: %s", resp.Error)
	}
	var out []Field
	for _, r := range resp.Results {
		if strings.HasPrefix(r.Error, "database not found") {
			return nil, nil
		}
		if r.Error != "" {
			return nil, fmt.Errorf("show field keys: %s", r.Error)
		}
		for _, series := range r.Series {
			for _, row := range series.Values {
				if len(row) < 2 {
					continue
				}
				if k, ok := ParseKind(row[1]); ok {
					out = append(out, Field{Measurement: series.Name, Field: row[0], Kind: k})
				}
			}
		}
	}
	return out, nil
}

func (q InfluxQL) query(ctx context.Context) ([]byte, error) {
	db, rp, _ := strings.Cut(q.Bucket, "/")
	params := url.Values{"db": {db}, "q": {"SHOW FIELD KEYS"}}
	if rp != "" {
		params.Set("rp", rp)
	}
	u := strings.TrimRight(q.URL, "/") + "/query?" + params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("show field keys: %w", err)
	}
	q.authorize(req)
	c := q.Client
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("show field keys on %s: %w", q.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("show field keys on %s: read the answer: %w", q.URL, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("show field keys on %s: %s: %.200s", q.URL, res.Status, body)
	}
	return body, nil
}

// authorize sets the credentials for q.API. InfluxDB 1.x takes "Token
// user:password" on its v2 write API only; its /query wants the pair as
// basic authentication. API tokens of InfluxDB 2.x have no ':'; InfluxDB 3
// takes its token as Bearer on every endpoint.
func (q InfluxQL) authorize(req *http.Request) {
	switch user, password, pair := strings.Cut(q.Token, ":"); {
	case q.Token == "":
	case q.API == "v3":
		req.Header.Set("Authorization", "Bearer "+q.Token)
	case pair:
		req.SetBasicAuth(user, password)
	default:
		req.Header.Set("Authorization", "Token "+q.Token)
	}
}
