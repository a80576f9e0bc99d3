package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Beyond loopback a reader may list dead letters but not replay them: a
// replay changes what is stored.
func TestReplayNeedsAdmin(t *testing.T) {
	s := &Server{gate: gateFor(t, "0.0.0.0:8080")}
	h := s.gate.guardAs(roleAdmin, "/v1/deadletter/replay", http.HandlerFunc(s.postReplay))
	for _, tc := range []struct{ user, password string }{{"r", "r-password"}, {"g", "g-password"}} {
		req := httptest.NewRequest(http.MethodPost, "/v1/deadletter/replay", nil)
		req.SetBasicAuth(tc.user, tc.password)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403 (%s)", tc.user, rec.Code, rec.Body)
		}
	}
}
