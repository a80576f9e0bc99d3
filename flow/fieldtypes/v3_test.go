package fieldtypes

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/flow/point"
)

// TestLoadFromInfluxDB3: no InfluxDB 3 runs in the test environment, so
// Load is checked against InfluxDB 3 Core's documented answer to SHOW
// FIELD KEYS on its v1-compatible /query (testdata/v3_show_field_keys.json):
// the request it sends and the types it learns.
func TestLoadFromInfluxDB3(t *testing.T) {
	b, err := os.ReadFile("testdata/v3_show_field_keys.json")
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	if err := json.Unmarshal(b, &answer); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		for what, c := range map[string][2]string{
			"path":          {r.URL.Path, "/query"},
			"db":            {q.Get("db"), "sensors"},
			"rp":            {q.Get("rp"), ""},
			"q":             {q.Get("q"), "SHOW FIELD KEYS"},
			"authorization": {r.Header.Get("Authorization"), "Bearer apiv3_token"},
		} {
			if c[0] != c[1] {
				t.Errorf("%s = %q, want %q", what, c[0], c[1])
			}
		}
		for k, v := range answer.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(answer.Status)
		_, _ = io.WriteString(w, answer.Body)
	}))
	defer srv.Close()
	s := New(0)
	n, err := InfluxQL{Endpoint: influx.Endpoint{URL: srv.URL, API: "v3", Bucket: "sensors", Token: "apiv3_token"}}.Load(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]point.Kind{"co": point.Int, "hum": point.Float, "room_name": point.String, "open": point.Bool}
	if n != len(want) {
		t.Fatalf("learnt %d, want %d", n, len(want))
	}
	for f, k := range want {
		if got, ok := s.Kind("home", f); !ok || got != k {
			t.Errorf("home.%s = %s (%v), want %s", f, KindName(got), ok, KindName(k))
		}
	}
}
