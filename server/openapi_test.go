package server

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// routePattern finds the patterns handed to a ServeMux in source code:
// mux.Handle("GET /v1/latest", ...) and mux.HandleFunc("/healthcheck", ...).
var routePattern = regexp.MustCompile(`mux\.Handle(?:Func)?\("(?:([A-Z]+) )?(/[^"]*)"`)

// Every route the server lists (routes.go, and the alert API it mounts) is
// in the OpenAPI document with its method, so the document cannot fall
// behind a new route unnoticed. The legacy API's routes are built from the
// configured parameters and are described as /v1/log-{parameter} and
// /ingest; the console's static files are not an API.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	for _, file := range []string{"routes.go", "../alert/api.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := routePattern.FindAllStringSubmatch(string(src), -1)
		if len(found) == 0 {
			t.Fatalf("%s: no routes found; has the way routes are listed changed?", file)
		}
		for _, m := range found {
			method, path := strings.ToLower(m[1]), strings.TrimSuffix(m[2], "{$}")
			if path == "/assets/" {
				continue
			}
			ops, ok := doc.Paths[path]
			if !ok {
				t.Errorf("%s: route %s %s is not in openapi.json", file, m[1], m[2])
				continue
			}
			if method == "" {
				continue // any method: the legacy health check
			}
			if _, ok := ops[method]; !ok {
				t.Errorf("%s: route %s %s: openapi.json describes %s only for other methods", file, m[1], m[2], path)
			}
		}
	}
	for _, legacy := range []string{"/v1/log-{parameter}", "/ingest"} {
		if _, ok := doc.Paths[legacy]["post"]; !ok {
			t.Errorf("openapi.json does not describe the legacy POST %s", legacy)
		}
	}
}
