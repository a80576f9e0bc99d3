package httpjson

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The one error shape, byte for byte: the answers written before this
// package existed were the same indented document.
func TestError(t *testing.T) {
	rec := httptest.NewRecorder()
	Error(rec, http.StatusBadRequest, `n must be a count, got "x"`)
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if got, want := rec.Body.String(), "{\n  \"error\": \"n must be a count, got \\\"x\\\"\"\n}\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}
