package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/testenv"
)

// fakeOutput is an output.Output whose answers a test scripts. It keeps a
// copy of every record it stored, in order.
type fakeOutput struct {
	// reject, if set, refuses a record for good when it returns a reason.
	reject func(rec []byte) string
	// fail, if set, answers attempt n (0-based, counting every Write) with
	// an error instead of storing anything.
	fail func(n int) error
	// block makes Write wait for ctx, as a writer riding out an outage does.
	block bool
	up    bool

	mu      sync.Mutex
	calls   int
	stored  [][]byte
	batches [][][]byte
	closed  bool
}

func (f *fakeOutput) Write(ctx context.Context, batch [][]byte) ([]output.Rejected, error) {
	f.mu.Lock()
	n := f.calls
	f.calls++
	f.batches = append(f.batches, cloneAll(batch))
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if f.fail != nil {
		if err := f.fail(n); err != nil {
			return nil, err
		}
	}
	var rejected []output.Rejected
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, rec := range batch {
		if f.reject != nil {
			if why := f.reject(rec); why != "" {
				rejected = append(rejected, output.Rejected{Index: i, Reason: why})
				continue
			}
		}
		f.stored = append(f.stored, bytes.Clone(rec))
	}
	return rejected, nil
}

func (f *fakeOutput) Up() bool { return f.up }

func (f *fakeOutput) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("closed twice")
	}
	f.closed = true
	return nil
}

// storedLines are the records stored so far, sorted, as strings.
func (f *fakeOutput) storedLines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.stored))
	for i, r := range f.stored {
		out[i] = string(r)
	}
	slices.Sort(out)
	return out
}

func (f *fakeOutput) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeOutput) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func cloneAll(recs [][]byte) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = bytes.Clone(r)
	}
	return out
}

// openTest opens a pipeline on dir writing to out, with short flushes and
// backoffs; edit tweaks the options. Stop is the test's to call.
func openTest(t *testing.T, dir string, out output.Output, edit func(*Options)) *Pipeline {
	t.Helper()
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	o := Options{
		DataDir: dir,
		Mapping: mapping.DefaultConfig(),
		Outputs: []OutputSpec{{Name: "influx", Output: out, Required: true,
			Backoff:       output.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond},
			FlushInterval: 10 * time.Millisecond,
			Concurrency:   1}},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
	if edit != nil {
		edit(&o)
	}
	p, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return p
}

// reading is the payload of reading i and the line protocol the default
// mapping makes of it on devices/d1/sensors/temperature.
func reading(i int) (payload []byte, line string) {
	ts := int64(1795456800+i) * 1e9
	return fmt.Appendf(nil, `{"value": %d, "time": %d}`, i, ts/1e9),
		fmt.Sprintf("temperature,device=d1 value=%d %d\n", i, ts)
}

const testTopic = "devices/d1/sensors/temperature"

var rx = time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)

// ingestN ingests readings from..from+n-1 and returns their lines, sorted.
func ingestN(t *testing.T, p *Pipeline, from, n int) []string {
	t.Helper()
	sink := p.Sink("mqtt")
	var lines []string
	for i := from; i < from+n; i++ {
		pl, line := reading(i)
		if err := sink.Ingest(testTopic, pl, rx); err != nil {
			t.Fatalf("Ingest %d: %v", i, err)
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return lines
}

// deadLetters reads the pipeline's dead-letter file.
func deadLetters(t *testing.T, dir string) []deadletter.Entry {
	t.Helper()
	f, err := os.Open(deadletter.PathIn(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := deadletter.NewReader(f)
	var out []deadletter.Entry
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("dead-letter file: %v", err)
		}
		out = append(out, e)
	}
}

// waitDrained waits until the spool holds nothing.
func waitDrained(t *testing.T, p *Pipeline) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, "spool drained", func() bool { return p.spool.Stats().Records == 0 })
}

func stop(t *testing.T, p *Pipeline, drain time.Duration) {
	t.Helper()
	if err := p.Stop(drain); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func pending(p *Pipeline) int64 { return p.spool.Stats().Records }

// waitCond polls cond until it holds, failing after a generous deadline.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, what, cond)
}

func mappingDefault() mapping.Config { return mapping.DefaultConfig() }

// mappingLineRule reads line protocol on lines/{device}.
func mappingLineRule() mapping.TopicRule {
	return mapping.TopicRule{Template: "lines/{device}", Format: mapping.FormatLine}
}
