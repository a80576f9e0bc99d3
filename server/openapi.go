package server

import (
	_ "embed"
	"net/http"
)

// openAPI describes every HTTP route of `mqflux serve`; a test checks the
// running server's answers against it.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI is the document GET /v1/openapi.json serves.
func OpenAPI() []byte { return openAPI }

func getOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
