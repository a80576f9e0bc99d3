package fieldtypes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mqflux/mqflux/flow/influx"
)

// InfluxQL asks an InfluxDB for the field types it holds, with InfluxQL's
// SHOW FIELD KEYS through package influx's Query: InfluxDB 1.x has it,
// InfluxDB 2.x has it as its v1 compatibility API where the bucket is
// mapped to a database, and so does InfluxDB 3 (tested against a recorded
// answer: no InfluxDB 3 runs in the test environment). VictoriaMetrics has
// no InfluxQL: learning field types needs an InfluxDB as the first output.
type InfluxQL struct {
	Endpoint influx.Endpoint // the first output's query endpoint
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
	series, err := q.Endpoint.Query(ctx, "SHOW FIELD KEYS")
	if errors.Is(err, influx.ErrDatabaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("show field keys: %w", err)
	}
	var out []Field
	for _, s := range series {
		for _, row := range s.Values {
			var key, kind string
			if len(row) < 2 || json.Unmarshal(row[0], &key) != nil || json.Unmarshal(row[1], &kind) != nil {
				continue
			}
			if k, ok := ParseKind(kind); ok {
				out = append(out, Field{Measurement: s.Name, Field: key, Kind: k})
			}
		}
	}
	return out, nil
}
