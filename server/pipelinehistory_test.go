package server

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/pipeline"
)

// countsSource is a pipeline's counts set by the test.
type countsSource struct {
	received map[string]int64
	written  []int64
	spool    int64
}

func (c *countsSource) ReadFlow(f *pipeline.Flow) {
	f.Received = 0
	for _, n := range c.received {
		f.Received += n
	}
	f.SpoolRecords = c.spool
	f.Written = append(f.Written[:0], c.written...)
}

func (c *countsSource) Health() pipeline.Health {
	h := pipeline.Health{SpoolRecords: c.spool}
	for i := range c.written {
		h.Outputs = append(h.Outputs, pipeline.OutputHealth{Name: []string{"a", "b"}[i]})
	}
	return h
}

// The samples are rates of the counters since the sample before (every
// input's received together, each output's written), and the spool's
// depth as it is; the first sample only sets where the rates start.
func TestPipelineHistorySamples(t *testing.T) {
	src := &countsSource{received: map[string]int64{"mqtt": 100, "http": 5}, written: []int64{50, 0}, spool: 7}
	h, err := newPipelineHistory(src, pipelineOutputNames(src), time.Second, 3, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	h.sample(t0)
	if v := h.view(); len(v.Time) != 0 {
		t.Fatalf("the first sample was kept: %+v", v)
	}
	steps := []struct {
		after          time.Duration
		mqtt, http     int64
		wroteA, wroteB int64
		spool          int64
	}{
		{time.Second, 110, 5, 60, 0, 3},             // 10/s in, a 10/s, b 0
		{2 * time.Second, 130, 9, 60, 20, 0},        // 24 in over 2 s, b catches up
		{time.Second, 130, 9, 60, 20, 0},            // nothing
		{500 * time.Millisecond, 131, 9, 61, 21, 1}, // half a second
	}
	at := t0
	for _, s := range steps {
		at = at.Add(s.after)
		src.received = map[string]int64{"mqtt": s.mqtt, "http": s.http}
		src.written, src.spool = []int64{s.wroteA, s.wroteB}, s.spool
		h.sample(at)
	}
	v := h.view()
	// The ring keeps 3: the oldest step is gone.
	wantTimes := []float64{1_800_000_003, 1_800_000_004, 1_800_000_004.5}
	if !slices.Equal(v.Time, wantTimes) {
		t.Errorf("times %v, want %v", v.Time, wantTimes)
	}
	for _, c := range []struct {
		name      string
		got, want []float64
	}{
		{"received", v.Received, []float64{12, 0, 2}},
		{"spool", v.SpoolRecords, []float64{0, 0, 1}},
		{"written a", v.Outputs[0].Written, []float64{0, 0, 2}},
		{"written b", v.Outputs[1].Written, []float64{10, 0, 2}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if v.Outputs[0].Name != "a" || v.Outputs[1].Name != "b" || v.SpanSeconds != 3 || v.IntervalSeconds != 1 {
		t.Errorf("view %+v: want outputs a and b, span 3 s, interval 1 s", v)
	}
}

// Start samples until Stop; Stop returns once the sampling has ended.
func TestPipelineHistoryStartStop(t *testing.T) {
	src := &countsSource{received: map[string]int64{}, written: []int64{0}}
	h, err := newPipelineHistory(src, pipelineOutputNames(src), time.Millisecond, 10, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	deadline := time.Now().Add(30 * time.Second)
	for h.ring.Len() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := h.Stop(); err != nil {
		t.Fatal(err)
	}
	if n := h.ring.Len(); n < 3 {
		t.Fatalf("%d samples after Start", n)
	}
}

// A sample of a real pipeline allocates nothing: it is taken every second
// for as long as the server runs.
func TestPipelineHistorySampleAllocatesNothing(t *testing.T) {
	p, err := pipeline.Open(pipeline.Options{
		DataDir: t.TempDir(),
		Mapping: mapping.DefaultConfig(),
		Outputs: []pipeline.OutputSpec{
			{Name: "a", Output: &memOutput{}, Required: true, FlushInterval: 10 * time.Millisecond, Concurrency: 1},
			{Name: "b", Output: &memOutput{}, FlushInterval: 10 * time.Millisecond, Concurrency: 1},
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	defer func() {
		if err := p.Stop(time.Minute); err != nil {
			t.Error(err)
		}
	}()
	if err := p.Sink("mqtt").Ingest("devices/d1/sensors/temperature", []byte("21.5"), time.Now()); err != nil {
		t.Fatal(err)
	}
	h, err := newPipelineHistory(p, pipelineOutputNames(p), time.Second, 10, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	h.sample(now)
	if n := testing.AllocsPerRun(100, func() {
		now = now.Add(time.Second)
		h.sample(now)
	}); n != 0 {
		t.Errorf("a sample allocates %v times, want 0", n)
	}
	if h.ring.Len() == 0 {
		t.Error("no sample kept")
	}
}
