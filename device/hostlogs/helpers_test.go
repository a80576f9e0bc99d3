package hostlogs

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqflux/mqflux/device/queue"
	"github.com/mqflux/mqflux/internal/testenv"
)

// rig is a log queue and a shipper in a temporary directory; reopen
// starts both again on the same files, as a restarted agent does.
type rig struct {
	t        *testing.T
	dir      string
	maxBytes int64
	rate     int
	q        *queue.Queue
	sh       *Shipper
}

func newRig(t *testing.T, maxBytes int64, rate int) *rig {
	r := &rig{t: t, dir: t.TempDir(), maxBytes: maxBytes, rate: rate}
	r.reopen()
	t.Cleanup(func() { r.q.Close() })
	return r
}

func (r *rig) reopen() {
	r.t.Helper()
	if r.q != nil {
		if err := r.q.Close(); err != nil {
			r.t.Fatal(err)
		}
	}
	q, err := queue.Open(queue.Options{Dir: filepath.Join(r.dir, "logs"), MaxBytes: r.maxBytes, SegmentBytes: r.maxBytes / 16})
	if err != nil {
		r.t.Fatal(err)
	}
	r.q = q
	r.sh = NewShipper(ShipperOptions{Queue: q, StatePath: filepath.Join(r.dir, "logs.state.json"),
		MaxLine: 64, PerSecond: r.rate, QueueMax: r.maxBytes, Logger: testLogger(r.t)})
}

// lines reads the queued lines, oldest first, without removing them.
func (r *rig) lines() []payload {
	r.t.Helper()
	r.q.Rewind()
	var out []payload
	for {
		rec, ok, err := r.q.Next()
		if err != nil {
			r.t.Fatal(err)
		}
		if !ok {
			r.q.Rewind()
			return out
		}
		var p payload
		if err := json.Unmarshal(rec.Data, &p); err != nil {
			r.t.Fatalf("queued record %q: %v", rec.Data, err)
		}
		out = append(out, p)
	}
}

func (r *rig) waitLines(n int) []payload {
	r.t.Helper()
	var got []payload
	testenv.WaitFor(r.t, 30*time.Second, "queued log lines", func() bool {
		got = r.lines()
		return len(got) >= n
	})
	return got
}

func messages(ps []payload) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Message
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func writeFile(t *testing.T, path, data string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
}
