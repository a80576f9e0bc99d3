package pipeline

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
	"github.com/mqflux/mqflux/flow/spool"
)

// watcher records what it observes; while gate is open (not nil and not
// closed) it waits before each reading, as a stalled client would.
type watcher struct {
	observe.Base
	gate chan struct{}
	mu   sync.Mutex
	seen []string
}

func (w *watcher) Name() string { return "watcher" }

func (w *watcher) Observe(r *observe.Reading) {
	if w.gate != nil {
		<-w.gate
	}
	var b strings.Builder
	b.WriteString(r.Source + " " + r.Topic + " " + r.Measurement + " device=" + r.Device())
	for _, f := range r.Fields {
		b.WriteString(" " + f.Key + "=")
		v, _ := json.Marshal(f.Value())
		b.Write(v)
	}
	b.WriteString(" " + r.At().Format(time.RFC3339Nano))
	w.mu.Lock()
	w.seen = append(w.seen, b.String())
	w.mu.Unlock()
}

func (w *watcher) readings() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// openObserved opens a pipeline whose writers are not started: these tests
// are about what happens up to the answer to the sender.
func openObserved(t *testing.T, queue int, observers ...observe.Observer) (*Pipeline, string) {
	t.Helper()
	dir := t.TempDir()
	p, err := Open(Options{
		DataDir:       dir,
		Mapping:       mapping.DefaultConfig(),
		Spool:         spool.Options{MaxBytes: 1 << 30, Durability: spool.Write},
		Outputs:       []OutputSpec{{Output: &fakeOutput{}, Required: true}},
		Observers:     observers,
		ObserverQueue: queue,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, dir
}

// Observers see what the spool accepted, from either kind of input, as
// values; what was refused they never see.
func TestObserversSeeSpooledReadings(t *testing.T) {
	w := &watcher{}
	p, _ := openObserved(t, 0, w)
	mqtt, http := p.Sink("mqtt"), p.Sink("http")
	if err := mqtt.Ingest("devices/pi-1/sensors/env", []byte(`{"t": 21.5, "n": "ok", "time": 1795456800}`), rx); err != nil {
		t.Fatal(err)
	}
	if err := mqtt.Ingest("devices/pi-1/sensors/env", []byte(`{"t": NaN}`), rx); !ingest.IsReject(err) {
		t.Fatalf("NaN: %v", err)
	}
	r := ingest.Reading{Device: "node-7", Measurement: "temperature", Fields: []point.Field{point.FloatField("value", 20), point.StringField("status", "ok")}}
	if err := http.IngestReading(r, rx); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(0); err != nil { // lets the observers finish their queues
		t.Fatal(err)
	}
	want := []string{
		`mqtt devices/pi-1/sensors/env env device=pi-1 n="ok" t=21.5 2026-11-23T18:00:00Z`,
		`http devices/node-7/sensors/temperature temperature device=node-7 status="ok" value=20 2026-11-23T18:00:00Z`,
	}
	if got := w.readings(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("observed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// An observer that never returns holds up no sender: every reading is
// spooled and answered, and what its queue cannot take is counted as
// dropped for it.
func TestStalledObserverHoldsUpNoSender(t *testing.T) {
	const queue, n = 4, 200
	stalled := &watcher{gate: make(chan struct{})}
	p, _ := openObserved(t, queue, stalled)
	sink := p.Sink("mqtt")
	for i := 0; i < n; i++ {
		if err := sink.Ingest("devices/pi-1/sensors/temperature", []byte("21.5"), rx); err != nil {
			t.Fatalf("reading %d: %v", i, err)
		}
	}
	if got := p.Health().SpoolRecords; got != n {
		t.Errorf("spool holds %d readings, want %d", got, n)
	}
	dropped := dropCount(t, p)
	// The reading in the observer's hands keeps its slot until Observe
	// returns: the queue holds exactly queue readings however far the
	// goroutine got.
	if dropped != n-queue {
		t.Errorf("dropped %v for the stalled observer, want %d", dropped, n-queue)
	}
	close(stalled.gate)
	if err := p.Stop(0); err != nil {
		t.Fatal(err)
	}
	if got := len(stalled.readings()); float64(got)+dropped != n {
		t.Errorf("observer saw %d and %v were dropped, want %d in all", got, dropped, n)
	}
}

// A decoded reading the mapping refuses is dead-lettered like a published
// one: under its topic, with the payload its device would have sent.
func TestIngestReadingDeadLetter(t *testing.T) {
	p, dir := openObserved(t, 0)
	r := ingest.Reading{Device: "node-7", Measurement: "temperature",
		Fields: []point.Field{point.FloatField("value", 21), point.StringField("status", "two\nlines")},
		Time:   time.Date(2025, 3, 18, 10, 0, 0, 123e6, time.UTC)}
	err := p.Sink("http").IngestReading(r, rx)
	var re *ingest.RejectError
	if !errors.As(err, &re) || re.Reason != "bad_field" {
		t.Fatalf("IngestReading(status with a line break): %v, want a bad_field rejection", err)
	}
	if err := p.Stop(0); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(deadletter.PathIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Source, Topic, Reason, Payload string }
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("dead letter %s: %v", b, err)
	}
	if e.Source != "http" || e.Topic != "devices/node-7/sensors/temperature" || e.Reason != "bad_field" ||
		e.Payload != `{"value":21.0,"time":"2025-03-18T10:00:00.123Z","status":"two\nlines"}` {
		t.Errorf("dead letter %s", b)
	}
}

// dropCount reads mqflux_observer_dropped_total as /metrics would show it.
func dropCount(t *testing.T, p *Pipeline) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "mqflux_observer_dropped_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no mqflux_observer_dropped_total")
	return 0
}
