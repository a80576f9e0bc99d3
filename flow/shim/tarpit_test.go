package shim_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mqflux/mqflux/flow/shim"
)

// recordingTarpit records the holds asked of it and holds nothing.
type recordingTarpit struct {
	mu    sync.Mutex
	calls []string
}

func (r *recordingTarpit) Hold(_ context.Context, remote, listener string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, remote+" "+listener)
	return true
}

// A legacy request whose address is backed off for its wrong keys is held
// in the tarpit (WithTarpit) before its 429 with Retry-After, on both
// kinds of endpoint; the wrong keys before it, checked, are not held.
func TestLegacyKeyBackoffHeldInTarpit(t *testing.T) {
	tp := &recordingTarpit{}
	s, err := shim.New(testConfig(), &recordingSink{}, nil, shim.WithTarpit(tp))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	post := func(path, body string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.RemoteAddr = "192.0.2.9:4000"
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	wrong := with(logHeader, "X-authorization", "not-a-key")
	for i := range 6 { // the free failures, and the one that starts the backoff
		if rec := post("/v1/log-temperature", `{"temperature": 1}`, wrong); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d, want 401", i+1, rec.Code)
		}
	}
	if len(tp.calls) != 0 {
		t.Fatalf("checked keys were held: %v", tp.calls)
	}
	for _, rec := range []*httptest.ResponseRecorder{
		post("/v1/log-temperature", `{"temperature": 1}`, logHeader),
		post("/ingest", goodLine+"\n", ingHeader),
	} {
		if after, err := strconv.Atoi(rec.Header().Get("Retry-After")); rec.Code != http.StatusTooManyRequests || err != nil || after < 1 {
			t.Errorf("the right key from a backed-off address: %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if len(tp.calls) != 2 || tp.calls[0] != "192.0.2.9:4000 http" {
		t.Errorf("held %v; want the two requests from the backed-off address, as http", tp.calls)
	}
}
