package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// recordingTarpit records the holds asked of it; with block set, a hold
// lasts until its context ends.
type recordingTarpit struct {
	block bool
	mu    sync.Mutex
	calls []string
}

func (r *recordingTarpit) Hold(ctx context.Context, remote, listener string) bool {
	r.mu.Lock()
	r.calls = append(r.calls, remote+" "+listener)
	r.mu.Unlock()
	if r.block {
		<-ctx.Done()
	}
	return true
}

func (r *recordingTarpit) held() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// A basic-auth login from an address in backoff is held in the tarpit
// before its 429 with Retry-After, and only such a login: the first
// failures are checked and answered 401 at once, another address is
// served without a hold.
func TestReadGateHoldsBackoffInTarpit(t *testing.T) {
	g := gateFor(t, ":8080")
	tp := &recordingTarpit{}
	g.tarpit = tp
	get := metricsGetter(g)
	for i := range 5 { // the free failures
		if rec := get("192.0.2.9:4000", "wrong-password"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, rec.Code)
		}
	}
	if got := tp.held(); len(got) != 0 {
		t.Fatalf("logins checked and refused were held: %v", got)
	}
	get("192.0.2.9:4000", "wrong-password") // the sixth: backoff starts
	rec := get("192.0.2.9:4001", "r-password")
	if after, err := strconv.Atoi(rec.Header().Get("Retry-After")); rec.Code != http.StatusTooManyRequests || err != nil || after < 1 {
		t.Errorf("the right password from an address in backoff: %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := tp.held(); len(got) != 1 || got[0] != "192.0.2.9:4001 http" {
		t.Errorf("held %v; want the one login from the address in backoff, as http", got)
	}
	if n := testutil.ToFloat64(g.denied.WithLabelValues("/metrics", "backoff")); n != 1 {
		t.Errorf("%v refusals counted as backoff, want 1", n)
	}
	if rec := get("192.0.2.10:4000", "r-password"); rec.Code != http.StatusOK || len(tp.held()) != 1 {
		t.Errorf("another address: %d, %d holds; want 200 without a hold", rec.Code, len(tp.held()))
	}
}

// The HTTP server's shutdown ends the holds, so that none keeps it up,
// and a hold's request is answered.
func TestHTTPTarpitEndsHoldsAtShutdown(t *testing.T) {
	srv := &http.Server{}
	tp := &recordingTarpit{block: true}
	h := newHTTPTarpit(tp, srv)
	done := make(chan bool)
	go func() { done <- h.Hold(context.Background(), "192.0.2.9:4000", tarpitListener) }()
	for deadline := time.Now().Add(time.Minute); len(tp.held()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hold did not start")
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case held := <-done:
		if !held {
			t.Error("the hold reports it held nothing")
		}
	case <-time.After(time.Minute):
		t.Fatal("a hold outlived the HTTP server's shutdown")
	}
}
