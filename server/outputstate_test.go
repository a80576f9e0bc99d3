package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/pipeline"
)

// /healthz and GET /v1/pipeline show an output with the same keys, in the
// same order, filled from the pipeline's health and the output's
// description; each view adds its own.
func TestOutputJSONShapes(t *testing.T) {
	list := []Output{{Name: "shelf", Kind: memKind, Config: &memConfig{Label: "shelf-1", Capacity: 50}}}
	ph := pipeline.Health{Outputs: []pipeline.OutputHealth{{Name: "shelf", Required: true, Up: false,
		LagRecords: 3, LagBytes: 300, Skipped: 2, Error: "refused", ErrorAt: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)}}}
	st := pipeline.Stats{Outputs: []pipeline.OutputStats{{Name: "shelf", Written: 5}}}
	same := `"name":"shelf","kind":"memtest","target":"memory:shelf-1","details":{"capacity":"50"},"required":true,"up":false,"lag_records":3,"lag_bytes":300,"lag_seconds":0,"skipped":2`
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"/healthz", outputsHealth(list, ph)[0], `{` + same + `,"last_error":"refused"}`},
		{"/v1/pipeline", outputViews(list, ph, st)[0], `{` + same + `,"written":5,"retries":{},"last_error":"refused","last_error_at":"2026-12-07T01:00:00Z"}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("%s output:\n got %s\nwant %s", c.name, b, c.want)
		}
	}
}
