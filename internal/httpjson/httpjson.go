// Package httpjson writes the JSON answers of mqflux's HTTP API, and its
// errors in one shape, {"error": "what went wrong and where"} (the
// OpenAPI document's Error), whichever part of the server answers. The
// legacy POST API (flow/shim) keeps the bodies its clients know and does
// not use it.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers code with v as an indented JSON document.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Body is the one shape of an error answer. An answer that has more to
// say embeds it beside its own keys (a replay that failed part way tells
// its result too).
type Body struct {
	Error string `json:"error"`
}

// Error answers code with {"error": msg}.
func Error(w http.ResponseWriter, code int, msg string) {
	Write(w, code, Body{Error: msg})
}
