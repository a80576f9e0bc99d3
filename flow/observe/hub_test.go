package observe

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mqflux/mqflux/flow/point"
)

var rx = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)

// recorder keeps the value of every reading it sees; until gate is closed
// (when set) it waits before each one.
type recorder struct {
	Base
	name   string
	gate   chan struct{}
	source string // when set, the only source it wants
	mu     sync.Mutex
	seen   []float64
	topics []string
	took   chan struct{} // receives once a reading is in hand
	done   chan struct{} // receives once a reading is recorded
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Wants(source string) bool { return r.source == "" || source == r.source }

func (r *recorder) Observe(rd *Reading) {
	if r.took != nil {
		select {
		case r.took <- struct{}{}:
		default:
		}
	}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.seen = append(r.seen, rd.Field("value").F)
	r.topics = append(r.topics, rd.Topic+" "+rd.Device()+" "+rd.Source)
	r.mu.Unlock()
	if r.done != nil {
		r.done <- struct{}{}
	}
}

func (r *recorder) values() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float64(nil), r.seen...)
}

// publish hands the reading {value: v} from device pi-1 to h.
func publish(h *Hub, set *point.Set, source string, v float64) {
	set.Reset()
	set.Begin("temperature", int64(v))
	set.Tag("device", "pi-1")
	set.Field(point.FloatField("value", v))
	h.Publish(source, "devices/pi-1/sensors/temperature", rx, set)
}

func stop(t *testing.T, h *Hub) {
	t.Helper()
	if err := h.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, q := range h.queues {
		<-q.done // closed: the goroutine has returned
	}
}

// An observer that does not read costs the publisher nothing but drops:
// every Publish returns, the readings beyond its queue are counted as
// dropped for it alone, and once it reads again it gets the queued ones in
// order while another observer saw everything.
func TestStalledObserverDropsAndCounts(t *testing.T) {
	const size, n = 8, 50
	stalled := &recorder{name: "stalled", gate: make(chan struct{}), took: make(chan struct{}, 1)}
	fine := &recorder{name: "fine", done: make(chan struct{})}
	var logs bytes.Buffer
	h := New(slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)), size, stalled, fine)
	var set point.Set
	publish(h, &set, "mqtt", 0)
	<-stalled.took // the first reading is in hand and holds its slot
	<-fine.done
	for i := 1; i < n; i++ {
		publish(h, &set, "mqtt", float64(i))
		<-fine.done // keeps up, whatever the scheduler does
	}
	if got := testutil.ToFloat64(h.dropped.WithLabelValues("stalled")); got != n-size {
		t.Errorf("dropped for the stalled observer: %v, want %d", got, n-size)
	}
	close(stalled.gate)
	stop(t, h)
	if got := testutil.ToFloat64(h.dropped.WithLabelValues("fine")); got != 0 {
		t.Errorf("dropped for the observer keeping up: %v", got)
	}
	want := make([]float64, size)
	for i := range want {
		want[i] = float64(i)
	}
	if got := stalled.values(); !equal(got, want) {
		t.Errorf("stalled observer saw %v, want %v", got, want)
	}
	if got := fine.values(); len(got) != n || !inOrder(got) {
		t.Errorf("observer keeping up saw %d readings %v, want all %d in order", len(got), got, n)
	}
	if c := strings.Count(logs.String(), "observer is behind"); c != 1 {
		t.Errorf("%d 'behind' log lines for one episode, want 1:\n%s", c, logs.String())
	}
	if !strings.Contains(logs.String(), "observer caught up") || !strings.Contains(logs.String(), "dropped=42") {
		t.Errorf("no 'caught up' line with the episode's drops:\n%s", logs.String())
	}
}

func TestReadingCarriesItsOrigin(t *testing.T) {
	r := &recorder{name: "r"}
	h := New(nil, 4, r)
	var set point.Set
	publish(h, &set, "http", 1)
	stop(t, h)
	if len(r.topics) != 1 || r.topics[0] != "devices/pi-1/sensors/temperature pi-1 http" {
		t.Errorf("observer saw %q", r.topics)
	}
}

// Readings from sources an observer does not want take no room in its
// queue.
func TestWants(t *testing.T) {
	httpOnly := &recorder{name: "http-only", source: "http", gate: make(chan struct{})}
	h := New(nil, 2, httpOnly)
	var set point.Set
	for i := 0; i < 10; i++ {
		publish(h, &set, "mqtt", float64(i))
	}
	publish(h, &set, "http", 100)
	close(httpOnly.gate)
	stop(t, h)
	if got := httpOnly.values(); !equal(got, []float64{100}) {
		t.Errorf("saw %v, want only the http reading", got)
	}
	if got := testutil.ToFloat64(h.dropped.WithLabelValues("http-only")); got != 0 {
		t.Errorf("dropped %v", got)
	}
}

// Stop lets an observer finish what is queued.
func TestStopDrains(t *testing.T) {
	r := &recorder{name: "r", gate: make(chan struct{})}
	h := New(nil, 16, r)
	var set point.Set
	for i := 0; i < 16; i++ {
		publish(h, &set, "mqtt", float64(i))
	}
	go close(r.gate)
	stop(t, h)
	if got := r.values(); len(got) != 16 || !inOrder(got) {
		t.Errorf("saw %v after Stop, want all 16 in order", got)
	}
	publish(h, &set, "mqtt", 99) // after Stop: ignored, does not block
	if got := r.values(); len(got) != 16 {
		t.Errorf("a reading published after Stop was observed: %v", got)
	}
}

// Stop gives up on an observer that does not return by the deadline,
// naming it, discards its queue, and its goroutine ends once the reading
// in hand is done.
func TestStopGivesUp(t *testing.T) {
	r := &recorder{name: "stuck", gate: make(chan struct{}), took: make(chan struct{}, 1)}
	h := New(nil, 16, r)
	var set point.Set
	for i := 0; i < 16; i++ {
		publish(h, &set, "mqtt", float64(i))
	}
	<-r.took
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Stop(ctx); err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("Stop: %v, want an error naming the stuck observer", err)
	}
	close(r.gate)
	<-h.queues[0].done
	if got := r.values(); len(got) > 2 {
		t.Errorf("saw %d readings after the queue was discarded, want at most the one in hand (and one more)", len(got))
	}
}

type nop struct{ Base }

func (nop) Name() string     { return "nop" }
func (nop) Observe(*Reading) {}

func TestPublishAllocatesNothing(t *testing.T) {
	h := New(nil, 4096, nop{}, nop{})
	defer stop(t, h)
	var set point.Set
	publish(h, &set, "mqtt", 1)
	if n := testing.AllocsPerRun(1000, func() { publish(h, &set, "mqtt", 2) }); n != 0 {
		t.Errorf("%v allocations per reading, want 0", n)
	}
}

func TestNilHub(t *testing.T) {
	var h *Hub
	var set point.Set
	publish(h, &set, "mqtt", 1)
	if err := h.Stop(context.Background()); err != nil || h.Collectors() != nil {
		t.Errorf("nil hub: %v %v", err, h.Collectors())
	}
}

func TestMetrics(t *testing.T) {
	r := &recorder{name: "r", gate: make(chan struct{}), took: make(chan struct{}, 1)}
	h := New(nil, 4, r)
	var set point.Set
	for i := 0; i < 6; i++ {
		publish(h, &set, "mqtt", float64(i))
	}
	const want = `
# HELP mqflux_observer_dropped_total Spooled readings an observer did not see because it was behind (they are still stored).
# TYPE mqflux_observer_dropped_total counter
mqflux_observer_dropped_total{observer="r"} 2
# HELP mqflux_observer_queued Readings waiting for an observer.
# TYPE mqflux_observer_queued gauge
mqflux_observer_queued{observer="r"} 4
`
	if err := testutil.CollectAndCompare(multi(h.Collectors()), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	close(r.gate)
	stop(t, h)
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func inOrder(v []float64) bool {
	for i := range v {
		if v[i] != float64(i) {
			return false
		}
	}
	return true
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// multi collects several collectors as one, for CollectAndCompare.
type multiCollector []prometheus.Collector

func multi(cs []prometheus.Collector) prometheus.Collector { return multiCollector(cs) }

func (m multiCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m {
		c.Describe(ch)
	}
}

func (m multiCollector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m {
		c.Collect(ch)
	}
}
