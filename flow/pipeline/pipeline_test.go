package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/spool"
)

// A reading the mapping refuses is dead-lettered with its reason and
// counted, and never reaches the spool or the output.
func TestMappingRejectIsDeadLettered(t *testing.T) {
	dir := t.TempDir()
	out := &fakeOutput{}
	p := openTest(t, dir, out, nil)
	p.Start()
	err := p.Sink("mqtt").Ingest(testTopic, []byte("NaN"), rx)
	var re *ingest.RejectError
	if !errors.As(err, &re) || re.Reason != "nan_inf" {
		t.Fatalf("Ingest(NaN) = %v, want a nan_inf RejectError", err)
	}
	if n := pending(p); n != 0 {
		t.Errorf("%d records spooled, want none", n)
	}
	if got := float64(p.Stats().RejectedBySource["mqtt"]["nan_inf"]); got != 1 {
		t.Errorf("rejected{mqtt,nan_inf} = %v, want 1", got)
	}
	if got := float64(p.Stats().DeadLettered["mqtt"]); got != 1 {
		t.Errorf("dead_letters{mqtt} = %v, want 1", got)
	}
	stop(t, p, time.Minute)
	letters := deadLetters(t, dir)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	e := letters[0]
	if e.Source != "mqtt" || e.Topic != testTopic || e.Reason != "nan_inf" || e.Detail == "" || string(e.Payload) != "NaN" {
		t.Errorf("dead letter %+v, want source mqtt, the topic, reason nan_inf, a detail, payload NaN", e)
	}
	if out.callCount() != 0 {
		t.Errorf("the output was written %d times, want never", out.callCount())
	}
}

// The output refuses one record of a batch: that record is dead-lettered
// with the output's reason, the others are stored, and the whole batch
// leaves the spool. The refused record brings a field the pipeline has not
// seen ("state"), which another writer stored in InfluxDB as a float: a
// conflict only the output can find.
func TestOutputRejectIsDeadLettered(t *testing.T) {
	const why = `partial write: field type conflict: input field "state" on measurement "temperature" is type string, already exists as type float dropped=1`
	dir := t.TempDir()
	out := &fakeOutput{reject: func(rec []byte) string {
		if strings.Contains(string(rec), `state="hot"`) {
			return why
		}
		return ""
	}}
	p := openTest(t, dir, out, nil)
	sink := p.Sink("mqtt")
	good := ingestN(t, p, 0, 2)
	if err := sink.Ingest(testTopic, []byte(`{"state": "hot", "time": 1795456900}`), rx); err != nil {
		t.Fatalf("Ingest hot: %v", err)
	}
	good = append(good, ingestN(t, p, 2, 2)...)
	slices.Sort(good)
	p.Start() // after the ingests, so the five records travel in one batch
	waitDrained(t, p)
	stop(t, p, time.Minute)

	if got := out.storedLines(); !slices.Equal(got, good) {
		t.Errorf("stored\n%q\nwant\n%q", got, good)
	}
	if len(out.batches) != 1 || len(out.batches[0]) != 5 {
		t.Errorf("batches of %v records, want one of 5", batchSizes(out.batches))
	}
	letters := deadLetters(t, dir)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	e := letters[0]
	wantLine := "temperature,device=d1 state=\"hot\" 1795456900000000000\n"
	if e.Source != "influx" || e.Reason != "influx_rejected" || e.Detail != why || string(e.Payload) != wantLine {
		t.Errorf("dead letter %+v, want source influx, reason influx_rejected, detail %q, payload %q", e, why, wantLine)
	}
	for name, tc := range map[string]struct {
		got  float64
		want float64
	}{
		"influx_rejected":   {float64(p.Stats().PrimaryRejected), 1},
		"written":           {float64(p.Stats().Written), 4},
		"dead_letters":      {float64(p.Stats().DeadLettered["influx"]), 1},
		"write_retries":     {float64(p.Stats().WriteRetries), 0},
		"spooled from mqtt": {float64(p.Stats().Spooled["mqtt"]), 5},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", name, tc.got, tc.want)
		}
	}
	// Acked means gone: a new pipeline on the same directory has nothing.
	again := openTest(t, dir, &fakeOutput{}, nil)
	if n := pending(again); n != 0 {
		t.Errorf("%d records still spooled after reopening, want none", n)
	}
	stop(t, again, 0)
}

func batchSizes(bs [][][]byte) []int {
	var n []int
	for _, b := range bs {
		n = append(n, len(b))
	}
	return n
}

// fillSpool ingests readings until the spool pushes back and returns the
// lines of those it accepted, in order.
func fillSpool(t *testing.T, sink Sink) []string {
	t.Helper()
	var accepted []string
	for i := 0; ; i++ {
		pl, line := reading(i)
		err := sink.Ingest(testTopic, pl, rx)
		if errors.Is(err, ingest.ErrFull) {
			return accepted
		}
		if err != nil {
			t.Fatalf("Ingest %d: %v", i, err)
		}
		accepted = append(accepted, line)
		if i > 1e6 {
			t.Fatal("the spool never filled")
		}
	}
}

// A full spool pushes back and drops nothing; once the output has drained
// it, the spool takes readings again.
func TestFullSpoolPushesBack(t *testing.T) {
	const size = 64 << 10
	out := &fakeOutput{}
	p := openTest(t, t.TempDir(), out, func(o *Options) {
		o.Spool = spool.Options{MaxBytes: size, SegmentBytes: size}
	})
	defer stop(t, p, time.Minute)
	sink := p.Sink("mqtt")
	accepted := fillSpool(t, sink)
	if len(accepted) == 0 {
		t.Fatal("the spool took nothing")
	}
	if got := float64(p.Stats().PushedBack["mqtt"]); got != 1 {
		t.Errorf("pushed_back{mqtt} = %v, want 1", got)
	}
	if got := int(pending(p)); got != len(accepted) {
		t.Errorf("%d records spooled, %d accepted", got, len(accepted))
	}

	p.Start()
	waitDrained(t, p)
	slices.Sort(accepted)
	if got := out.storedLines(); !slices.Equal(got, accepted) {
		t.Fatalf("stored %d records, want the %d accepted ones exactly", len(got), len(accepted))
	}
	// The pushed-back reading is sent again by its publisher; now it fits.
	pl, line := reading(len(accepted))
	if err := sink.Ingest(testTopic, pl, rx); err != nil {
		t.Fatalf("Ingest after the drain: %v", err)
	}
	waitStoredLine(t, out, line)
}

// waitStoredLine waits until the output stored line.
func waitStoredLine(t *testing.T, out *fakeOutput, line string) {
	t.Helper()
	waitCond(t, "the output stored "+strings.TrimSpace(line), func() bool {
		return slices.Contains(out.storedLines(), line)
	})
}

// An error from the output leaves the batch pending: it is offered again,
// whole, until the output takes it, and nothing is dropped.
func TestOutputErrorIsRetried(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"plain error", errors.New("connection refused")},
		{"error with a retry-after hint", &output.RetryError{Err: errors.New("429 throttled"), After: time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := &fakeOutput{fail: func(n int) error {
				if n < 3 {
					return tc.err
				}
				return nil
			}}
			p := openTest(t, dir, out, nil)
			want := ingestN(t, p, 0, 10)
			p.Start()
			waitDrained(t, p)
			stop(t, p, time.Minute)
			if got := out.storedLines(); !slices.Equal(got, want) {
				t.Errorf("stored\n%q\nwant\n%q", got, want)
			}
			if got := out.callCount(); got != 4 {
				t.Errorf("%d writes, want 3 failed and 1 stored", got)
			}
			for i, b := range out.batches {
				if len(b) != 10 {
					t.Errorf("write %d had %d records, want the whole batch of 10", i, len(b))
				}
			}
			if got := float64(p.Stats().WriteRetries); got != 3 {
				t.Errorf("write_retries = %v, want 3", got)
			}
			if got := float64(p.Stats().Written); got != 10 {
				t.Errorf("written = %v, want 10", got)
			}
			if _, err := os.Stat(deadletter.PathIn(dir)); err == nil {
				if letters := deadLetters(t, dir); len(letters) != 0 {
					t.Errorf("dead letters %+v, want none", letters)
				}
			}
		})
	}
}

// Stop drains what is spooled into a working output, and closes it.
func TestStopDrains(t *testing.T) {
	dir := t.TempDir()
	out := &fakeOutput{}
	p := openTest(t, dir, out, func(o *Options) { o.Outputs[0].FlushInterval = time.Second })
	p.Start()
	want := ingestN(t, p, 0, 50)
	stop(t, p, time.Minute)
	if got := out.storedLines(); !slices.Equal(got, want) {
		t.Errorf("stored %d records, want the %d spooled before Stop", len(got), len(want))
	}
	if !out.isClosed() {
		t.Error("Stop did not close the output")
	}
	again := openTest(t, dir, &fakeOutput{}, nil)
	defer stop(t, again, 0)
	if n := pending(again); n != 0 {
		t.Errorf("%d records left in the spool, want none", n)
	}
}

// With the output down, Stop gives up after the drain time; the readings
// stay in the spool and the next Open writes them.
func TestStopKeepsWhatTheOutputDidNotTake(t *testing.T) {
	tests := []struct {
		name string
		down *fakeOutput
	}{
		{"output failing", &fakeOutput{fail: func(int) error { return errors.New("connection refused") }}},
		{"output retrying inside Write", &fakeOutput{block: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := openTest(t, dir, tc.down, nil)
			p.Start()
			want := ingestN(t, p, 0, 20)
			waitCond(t, "a write attempt", func() bool { return tc.down.callCount() > 0 })
			stop(t, p, 50*time.Millisecond)
			if got := tc.down.storedLines(); len(got) != 0 {
				t.Fatalf("the down output stored %d records", len(got))
			}
			if !tc.down.isClosed() {
				t.Error("Stop did not close the output")
			}

			up := &fakeOutput{}
			again := openTest(t, dir, up, nil)
			if n := pending(again); n != int64(len(want)) {
				t.Errorf("%d records spooled after reopening, want %d", n, len(want))
			}
			again.Start()
			waitDrained(t, again)
			stop(t, again, time.Minute)
			if got := up.storedLines(); !slices.Equal(got, want) {
				t.Errorf("after reopening stored\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// The pipeline reports its output's health and owns it: Open closes it
// when Open fails.
func TestOutputOwnership(t *testing.T) {
	if _, err := Open(Options{DataDir: t.TempDir(), Mapping: mappingDefault()}); err == nil {
		t.Error("Open without an output succeeded")
	}
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out := &fakeOutput{}
	if _, err := Open(Options{DataDir: blocker, Mapping: mappingDefault(), Outputs: []OutputSpec{{Output: out, Required: true}}}); err == nil {
		t.Fatal("Open on a data dir that is a file succeeded")
	}
	if !out.isClosed() {
		t.Error("a failed Open left the output open")
	}

	for _, up := range []bool{true, false} {
		t.Run(fmt.Sprintf("up=%v", up), func(t *testing.T) {
			p := openTest(t, t.TempDir(), &fakeOutput{up: up}, nil)
			defer stop(t, p, 0)
			if got := p.Health().Outputs[0].Up; got != up {
				t.Errorf("Health().Outputs[0].Up = %v, want the output's %v", got, up)
			}
		})
	}
}
