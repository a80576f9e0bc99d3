package pipeline

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/spool"
)

// switchable fails every write while down is set, as an output in an
// outage does, and stores once it is cleared.
func switchable(down *atomic.Bool) *fakeOutput {
	return &fakeOutput{fail: func(int) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
}

// spec is an output of the tests: small batches, short backoffs.
func spec(name string, out output.Output, required bool) OutputSpec {
	return OutputSpec{Name: name, Output: out, Required: required, BatchSize: 50,
		Backoff:       output.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
		FlushInterval: 5 * time.Millisecond, Concurrency: 2}
}

// withOutputs replaces the outputs of openTest.
func withOutputs(specs ...OutputSpec) func(*Options) {
	return func(o *Options) { o.Outputs = specs }
}

// metricOf reads the value of metric name{output=output} from the
// pipeline's collectors as a registry would scrape it.
func metricOf(t *testing.T, p *Pipeline, name, out string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(p.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "output" && l.GetValue() == out {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{output=%q}", name, out)
	return 0
}

// outputHealth is the Health of the output named name.
func outputHealth(p *Pipeline, name string) OutputHealth {
	for _, h := range p.Health().Outputs {
		if h.Name == name {
			return h
		}
	}
	return OutputHealth{}
}

// Two required outputs, one down: the other keeps storing, the spool keeps
// taking readings until it is full of what the down one holds, then pushes
// back. Once the down one is back, each has every reading exactly once.
func TestRequiredOutputDownPushesBackOnlyWhenFull(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	a, b := &fakeOutput{}, switchable(&down)
	p := openTest(t, t.TempDir(), nil, func(o *Options) {
		withOutputs(spec("a", a, true), spec("b", b, true))(o)
		o.Spool = spool.Options{MaxBytes: 64 << 10, SegmentBytes: 16 << 10}
	})
	defer stop(t, p, time.Minute)
	p.Start()
	sink := p.Sink("mqtt")
	accepted := fillSpool(t, sink)
	slices.Sort(accepted)
	if len(accepted) < 500 {
		t.Fatalf("the spool took %d readings before pushing back, want it filled first", len(accepted))
	}
	waitCond(t, "a stored every accepted reading", func() bool { return len(a.storedLines()) == len(accepted) })
	if got := a.storedLines(); !slices.Equal(got, accepted) {
		t.Fatalf("a stored %d readings, not the %d accepted ones once each", len(got), len(accepted))
	}
	if h := outputHealth(p, "b"); h.LagRecords != int64(len(accepted)) || h.Skipped != 0 {
		t.Fatalf("b's health %+v, want all %d readings behind, none skipped", h, len(accepted))
	}
	if got := metricOf(t, p, "mqflux_output_retries_total", "b"); got == 0 {
		t.Error("mqflux_output_retries_total{output=b} = 0, want b's failures counted")
	}
	if got := metricOf(t, p, "mqflux_output_retries_total", "a"); got != 0 {
		t.Errorf("mqflux_output_retries_total{output=a} = %v, want 0", got)
	}

	down.Store(false)
	waitDrained(t, p)
	if got := b.storedLines(); !slices.Equal(got, accepted) {
		t.Fatalf("b stored %d readings, not the %d accepted ones once each", len(got), len(accepted))
	}
	more := ingestN(t, p, len(accepted)+1000, 10) // room again
	waitCond(t, "both stored the new readings", func() bool {
		return len(a.storedLines()) == len(accepted)+10 && len(b.storedLines()) == len(accepted)+10
	})
	for name, o := range map[string]*fakeOutput{"a": a, "b": b} {
		if got := o.storedLines(); !slices.Equal(got, sortedUnion(accepted, more)) {
			t.Errorf("%s stored a reading twice or missed one", name)
		}
		if got := metricOf(t, p, "mqflux_output_written_total", name); got != float64(len(accepted)+10) {
			t.Errorf("mqflux_output_written_total{output=%s} = %v, want %d", name, got, len(accepted)+10)
		}
		if got := metricOf(t, p, "mqflux_output_lag_records", name); got != 0 {
			t.Errorf("mqflux_output_lag_records{output=%s} = %v, want 0", name, got)
		}
	}
	if got := float64(p.Stats().Written); got != float64(len(accepted)+10) {
		t.Errorf("mqflux_readings_written_total = %v, want %d (the first required output's)", got, len(accepted)+10)
	}
}

func sortedUnion(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return out
}

// An optional output down for long falls at most max_lag behind, skips
// the rest, counted exactly, and never pushes the publishers back; the
// required output loses nothing; Stop does not wait for the optional one.
// Once it is back it stores the newest readings, and its writer carries
// on after acking a batch it had been skipped past.
func TestOptionalOutputDownSkipsAhead(t *testing.T) {
	const n = 4000
	var down atomic.Bool
	down.Store(true)
	influx, vm := &fakeOutput{}, switchable(&down)
	vmSpec := spec("vm", vm, false)
	vmSpec.MaxLag = 32 << 10
	vmSpec.Concurrency = 1
	p := openTest(t, t.TempDir(), nil, func(o *Options) {
		withOutputs(spec("influx", influx, true), vmSpec)(o)
		o.Spool = spool.Options{MaxBytes: 1 << 20, SegmentBytes: 8 << 10}
	})
	p.Start()
	want := ingestN(t, p, 0, n) // fails the test on any push-back
	waitCond(t, "influx stored everything", func() bool { return len(influx.storedLines()) == n })
	if got := influx.storedLines(); !slices.Equal(got, want) {
		t.Fatalf("influx stored %d readings, not the %d ingested once each", len(got), n)
	}
	h := outputHealth(p, "vm")
	if h.Skipped == 0 || h.LagBytes > vmSpec.MaxLag || h.Required {
		t.Fatalf("vm health %+v, want readings skipped and at most %d bytes behind", h, vmSpec.MaxLag)
	}
	// vm acked nothing: what it skipped and what it is behind are all of it.
	if h.Skipped+h.LagRecords != n {
		t.Fatalf("vm skipped %d and is %d behind: %d, want %d", h.Skipped, h.LagRecords, h.Skipped+h.LagRecords, n)
	}
	if got := metricOf(t, p, "mqflux_output_skipped_total", "vm"); got != float64(h.Skipped) {
		t.Errorf("mqflux_output_skipped_total{output=vm} = %v, want %d", got, h.Skipped)
	}
	if got := metricOf(t, p, "mqflux_output_lag_bytes", "vm"); got != float64(h.LagBytes) {
		t.Errorf("mqflux_output_lag_bytes{output=vm} = %v, want %d", got, h.LagBytes)
	}
	if got := float64(p.Stats().PushedBack["mqtt"]); got != 0 {
		t.Errorf("%v readings pushed back, want none", got)
	}
	if h := outputHealth(p, "influx"); h.LagRecords != 0 || h.Skipped != 0 {
		t.Errorf("influx health %+v, want up to date, nothing skipped", h)
	}

	down.Store(false)
	waitCond(t, "vm caught up", func() bool { return outputHealth(p, "vm").LagRecords == 0 })
	// The batch vm was retrying when it was skipped past is given up, not
	// written late: vm has exactly the newest readings it was behind on.
	var newest []string
	for i := n - int(h.LagRecords); i < n; i++ {
		_, line := reading(i)
		newest = append(newest, line)
	}
	slices.Sort(newest)
	if got := vm.storedLines(); !slices.Equal(got, newest) {
		t.Fatalf("vm stored %d readings, want exactly the %d newest it was behind on", len(got), len(newest))
	}
	// Its writer carries on.
	later := ingestN(t, p, n, 5)
	waitCond(t, "vm stored the readings after it came back", func() bool { return len(vm.storedLines()) == len(newest)+5 })
	if got := vm.storedLines(); !slices.Equal(got, sortedUnion(newest, later)) {
		t.Fatalf("vm stored %d readings, want the %d newest and the 5 later ones once each", len(got), len(newest))
	}

	down.Store(true)
	ingestN(t, p, n+5, 100)
	waitCond(t, "influx stored the last readings", func() bool { return len(influx.storedLines()) == n+105 })
	stop(t, p, time.Hour) // returns once influx is done: vm, down again, holds nothing up
	if h := outputHealth(p, "vm"); h.LagRecords == 0 {
		t.Errorf("vm has nothing pending after Stop: %+v; the test did not hold it down", h)
	}
}

// storedByAOnly runs outputs a and b on dir with b down until a has
// stored 100 readings, and stops: b's cursor is still at the start.
func storedByAOnly(t *testing.T, dir string) []string {
	t.Helper()
	var down atomic.Bool
	down.Store(true)
	a, b := &fakeOutput{}, switchable(&down)
	p := openTest(t, dir, nil, withOutputs(spec("a", a, true), spec("b", b, true)))
	p.Start()
	want := ingestN(t, p, 0, 100)
	waitCond(t, "a stored everything", func() bool { return len(a.storedLines()) == 100 })
	stop(t, p, 0)
	return want
}

// Each output resumes from its own cursor after a restart; a new output
// starts with what the spool still holds, and the cursor of an output no
// longer configured is dropped.
func TestOutputsResumeFromOwnCursors(t *testing.T) {
	dir := t.TempDir()
	want := storedByAOnly(t, dir)

	tests := []struct {
		name    string
		outputs []string
		stores  map[string][]string // what each output stores after the restart
	}{
		{"b catches up, a has nothing to do", []string{"a", "b"}, map[string][]string{"a": nil, "b": want}},
		{"everything stored: nothing comes back", []string{"a", "b"}, map[string][]string{"a": nil, "b": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs := map[string]*fakeOutput{}
			var specs []OutputSpec
			for _, name := range tc.outputs {
				outs[name] = &fakeOutput{}
				specs = append(specs, spec(name, outs[name], true))
			}
			p := openTest(t, dir, nil, withOutputs(specs...))
			p.Start()
			waitDrained(t, p)
			stop(t, p, time.Minute)
			for name, o := range outs {
				if got := o.storedLines(); !slices.Equal(got, tc.stores[name]) {
					t.Errorf("%s stored %d readings after the restart, want %d", name, len(got), len(tc.stores[name]))
				}
			}
		})
	}
}

// An output removed from the configuration no longer holds the spool: a
// new one gets what the removed one had not stored, and the removed one,
// configured again, starts afresh from what the spool then holds.
func TestRemovedOutputIsForgotten(t *testing.T) {
	dir := t.TempDir()
	want := storedByAOnly(t, dir)

	a, c := &fakeOutput{}, &fakeOutput{}
	p := openTest(t, dir, nil, withOutputs(spec("a", a, true), spec("c", c, true)))
	p.Start()
	waitDrained(t, p)
	stop(t, p, time.Minute)
	if got := c.storedLines(); !slices.Equal(got, want) {
		t.Errorf("the new output c stored %d readings, want the %d b had not stored", len(got), len(want))
	}
	if got := a.storedLines(); len(got) != 0 {
		t.Errorf("a stored %d readings again", len(got))
	}

	b := &fakeOutput{}
	p = openTest(t, dir, nil, withOutputs(spec("a", &fakeOutput{}, true), spec("b", b, true)))
	p.Start()
	more := ingestN(t, p, 100, 3)
	waitDrained(t, p)
	stop(t, p, time.Minute)
	if got := b.storedLines(); !slices.Equal(got, more) {
		t.Errorf("b, configured again, stored %d readings, want only the 3 new ones", len(got))
	}
}
