package alert

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
)

// clock is a fake clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// receiver is a webhook endpoint that answers with status while it is
// set (503, 400...) and accepts otherwise, keeping what it accepted.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	refused  int
	accepted []notify.Notification
	changed  chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{changed: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var n notify.Notification
		if err := json.NewDecoder(req.Body).Decode(&n); err != nil || req.Header.Get("Idempotency-Key") != n.ID {
			t.Errorf("webhook body: %v, key %q for id %q", err, req.Header.Get("Idempotency-Key"), n.ID)
		}
		r.mu.Lock()
		st := r.status
		if st == 0 {
			r.accepted = append(r.accepted, n)
		} else {
			r.refused++
		}
		r.mu.Unlock()
		if st == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		if st != 0 {
			w.WriteHeader(st)
		}
		r.changed <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) set(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

// got is what was accepted, as "device rule state".
func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, n := range r.accepted {
		s = append(s, n.Device+" "+n.Rule+" "+n.State)
	}
	return s
}

// waitFor waits until cond holds, on each request the receiver answers.
func (r *receiver) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-r.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("gave up waiting for %s; accepted %q", what, r.got())
		}
	}
}

func openService(t *testing.T, dir string, clk *clock, url string, record Recorder) *Service {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SilentAfter = time.Minute
	cfg.CheckInterval = 10 * time.Millisecond
	cfg.Notify = []notify.Config{{Kind: notify.KindWebhook, Settings: &notify.WebhookConfig{URL: url}}}
	s, err := Open(Options{Config: cfg, Dir: dir, Record: record, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	return s
}

func observeReading(s *Service, device string, at time.Time) {
	var set point.Set
	set.Begin("temperature", at.UnixNano())
	set.Tag("device", device)
	set.Field(point.FloatField("value", 21))
	s.Observe(&observe.Reading{Point: *set.At(0), Received: at, Source: "mqtt"})
}

// A receiver down during a transition gets it once it is back, once; a
// firing is never overtaken by its resolution.
func TestReceiverDownGetsItOnceLater(t *testing.T) {
	r := newReceiver(t)
	clk := &clock{t: t0}
	s := openService(t, t.TempDir(), clk, r.URL, nil)
	defer s.Stop()
	observeReading(s, "pi-1", t0)
	r.set(http.StatusServiceUnavailable)
	clk.Set(t0.Add(2 * time.Minute))
	r.waitFor(t, "a refused attempt", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.refused > 0 })
	observeReading(s, "pi-1", t0.Add(3*time.Minute)) // resolves while the receiver is still down
	r.set(0)
	want := []string{"pi-1 silent firing", "pi-1 silent resolved"}
	r.waitFor(t, "both transitions", func() bool { return len(r.got()) >= 2 })
	if got := r.got(); !slices.Equal(got, want) {
		t.Errorf("accepted %q, want %q", got, want)
	}
	if got := testutil.ToFloat64(s.m.notifications.WithLabelValues("webhook", "retried")); got < 1 {
		t.Errorf("retried %v times, want at least 1", got)
	}
}

// A restart between firing and resolving neither fires again nor loses
// the resolution; a restart does not make devices silent.
func TestRestartBetweenFiringAndResolving(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	clk := &clock{t: t0}
	s := openService(t, dir, clk, r.URL, nil)
	observeReading(s, "pi-1", t0)
	observeReading(s, "pi-2", t0)
	clk.Set(t0.Add(50 * time.Second))
	observeReading(s, "pi-2", t0.Add(50*time.Second))
	clk.Set(t0.Add(70 * time.Second))
	r.waitFor(t, "pi-1 silent", func() bool { return len(r.got()) == 1 })
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	// Down for an hour: pi-2 would be silent by the old clock, but
	// silence counts from the new start.
	clk.Set(t0.Add(time.Hour))
	s = openService(t, dir, clk, r.URL, nil)
	defer s.Stop()
	clk.Set(t0.Add(time.Hour + 30*time.Second))
	s.check()
	observeReading(s, "pi-1", t0.Add(time.Hour+40*time.Second))
	r.waitFor(t, "pi-1 resolved", func() bool { return len(r.got()) == 2 })
	want := []string{"pi-1 silent firing", "pi-1 silent resolved"}
	if got := r.got(); !slices.Equal(got, want) {
		t.Errorf("accepted %q, want %q", got, want)
	}
	devs := s.Devices(DeviceFilter{})
	if len(devs) != 2 || devs[0].State != StateOnline || devs[1].State != StateOnline {
		t.Errorf("devices after the restart: %+v", devs)
	}
}

// A notification saved but not yet accepted when the server stops is
// sent by the next start, once.
func TestOutboxSurvivesRestart(t *testing.T) {
	r := newReceiver(t)
	dir := t.TempDir()
	clk := &clock{t: t0}
	r.set(http.StatusServiceUnavailable)
	s := openService(t, dir, clk, r.URL, nil)
	observeReading(s, "pi-1", t0)
	clk.Set(t0.Add(2 * time.Minute))
	r.waitFor(t, "a refused attempt", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.refused > 0 })
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	r.set(0)
	s = openService(t, dir, clk, r.URL, nil)
	defer s.Stop()
	r.waitFor(t, "the saved firing", func() bool { return len(r.got()) == 1 })
	s.check()
	if err := s.saveNow(); err != nil {
		t.Fatal(err)
	}
	if got := r.got(); !slices.Equal(got, []string{"pi-1 silent firing"}) {
		t.Errorf("accepted %q", got)
	}
}

// A receiver that refuses for good is not asked again; the refusal is
// counted and the outbox moves on.
func TestRefusedForGood(t *testing.T) {
	r := newReceiver(t)
	clk := &clock{t: t0}
	r.set(http.StatusBadRequest)
	s := openService(t, t.TempDir(), clk, r.URL, nil)
	defer s.Stop()
	observeReading(s, "pi-1", t0)
	clk.Set(t0.Add(2 * time.Minute))
	r.waitFor(t, "the refusal", func() bool {
		return testutil.ToFloat64(s.m.notifications.WithLabelValues("webhook", "refused")) == 1
	})
	r.set(0)
	observeReading(s, "pi-1", t0.Add(3*time.Minute))
	r.waitFor(t, "the resolution", func() bool { return len(r.got()) == 1 })
	r.mu.Lock()
	refused := r.refused
	r.mu.Unlock()
	if got := r.got(); refused != 1 || !slices.Equal(got, []string{"pi-1 silent resolved"}) {
		t.Errorf("refused %d, accepted %q; want 1 refusal, then the resolution", refused, got)
	}
}

// Transitions are spooled as line protocol of the alerts measurement.
func TestTransitionsRecorded(t *testing.T) {
	r := newReceiver(t)
	clk := &clock{t: t0}
	var mu sync.Mutex
	var lines []string
	rec := func(b []byte) error {
		mu.Lock()
		lines = append(lines, string(b))
		mu.Unlock()
		return nil
	}
	s := openService(t, t.TempDir(), clk, r.URL, rec)
	observeReading(s, "pi-1", t0)
	clk.Set(t0.Add(2 * time.Minute))
	r.waitFor(t, "the firing recorded", func() bool { mu.Lock(); defer mu.Unlock(); return len(lines) > 0 })
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := `alerts,device=pi-1,rule=silent state="firing",message="pi-1 is silent: no reading since 2026-11-30T12:00:00Z (silent_after 1m0s)" ` + fmt.Sprint(t0.Add(2*time.Minute).UnixNano()) + "\n"
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("recorded %q, want %q", lines, want)
	}
}

func TestAppendLineEscapes(t *testing.T) {
	v := 93.5
	n := notify.Notification{Device: "a b,c", Rule: "r=1", State: notify.Resolved, Value: &v, Message: "say \"hi\"\\\nbye", Since: t0.Add(-time.Hour), Time: t0}
	got := string(appendLine(nil, &n))
	want := `alerts,device=a\ b\,c,rule=r\=1 state="resolved",value=93.5,message="say \"hi\"\\ bye" ` + fmt.Sprint(t0.UnixNano()) + "\n"
	if got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

// A state file that cannot be read is moved aside and the service starts
// with an empty registry, instead of keeping the server down.
func TestUnreadableStateMovedAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"version": 1, "devices": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Config: DefaultConfig(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Devices(DeviceFilter{}); len(got) != 0 {
		t.Errorf("devices from a damaged file: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile+".corrupt")); err != nil {
		t.Errorf("damaged file not kept: %v", err)
	}
}

// A notifier's outbox keeps at most max_pending notifications: the
// oldest go, counted.
func TestOutboxBound(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPending = 2
	n, err := notify.New(notify.Config{Kind: notify.KindWebhook, Settings: &notify.WebhookConfig{URL: "http://127.0.0.1:1/hook"}}, notify.Env{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: t0}
	s, err := Open(Options{Config: cfg, Dir: t.TempDir(), Notifiers: []notify.Notifier{n}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		observeReading(s, fmt.Sprintf("pi-%d", i), t0)
	}
	clk.Set(t0.Add(time.Hour))
	s.check() // three devices silent: three firings
	if got := len(s.outbox["webhook"]); got != 2 {
		t.Errorf("%d waiting, want 2", got)
	}
	if got := testutil.ToFloat64(s.m.notifications.WithLabelValues("webhook", "dropped")); got != 1 {
		t.Errorf("dropped %v, want 1", got)
	}
}
