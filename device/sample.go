package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqflux/mqflux/device/queue"
	"github.com/mqflux/mqflux/device/sensor"
	"github.com/mqflux/mqflux/internal/backoff"
)

// A failing sensor is retried quickly at first (a loose wire that
// recovers), then every few minutes so a missing sensor does not keep the
// I2C bus busy.
const (
	minSensorRetry = time.Second
	maxSensorRetry = 5 * time.Minute
)

// sample reads s every interval until ctx is done. A failure is logged when
// the sensor's state changes (ok → failing, failing → ok, or a different
// error), never once per attempt.
func sample(ctx context.Context, s sensor.Sensor, interval time.Duration, bo backoff.Policy, app *appender, h *health, log *slog.Logger) {
	log = log.With("sensor", s.Name())
	var lastErr string
	failures := 0
	next := time.Now()
	for {
		wait := time.Until(next)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		readings, err := read(ctx, s)
		if err != nil {
			if err.Error() != lastErr {
				log.Warn("sensor failing; retrying with backoff", "err", err)
				lastErr = err.Error()
				h.set(s.Name(), true)
			}
			next = time.Now().Add(bo.Delay(failures, 0))
			failures++
			continue
		}
		if lastErr != "" {
			log.Info("sensor recovered")
			lastErr = ""
			h.set(s.Name(), false)
		}
		failures = 0
		for _, r := range readings {
			app.append(r)
		}
		// Keep to the grid of the first reading, so a slow read does not
		// make the series drift; after a long stall, start a new grid.
		next = next.Add(interval)
		if time.Until(next) < -interval {
			next = time.Now().Add(interval)
		}
	}
}

// read calls the sensor and rejects values that cannot be stored.
func read(ctx context.Context, s sensor.Sensor) ([]sensor.Reading, error) {
	readings, err := s.Read(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range readings {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			return nil, fmt.Errorf("%s: %s is %v, which cannot be stored", s.Name(), r.Measurement, r.Value)
		}
	}
	return readings, nil
}

// appender turns readings into queue records and counts those the queue
// refused; it logs when refusing starts and when it stops.
type appender struct {
	q      *queue.Queue
	topics topics
	log    *slog.Logger

	read    atomic.Uint64
	mu      sync.Mutex
	refused string // the reason appends are failing; "" while they succeed
	lost    uint64 // readings refused in the current run of failures
}

// payload is the JSON body of a reading: its value and the time it was read.
type payload struct {
	Value float64 `json:"value"`
	Time  string  `json:"time"`
}

func (a *appender) append(r sensor.Reading) {
	a.read.Add(1)
	body, err := json.Marshal(payload{Value: r.Value, Time: r.Time.UTC().Format(time.RFC3339Nano)})
	if err != nil { // only non-finite values fail, and read rejects those
		a.log.Error("encode reading", "measurement", r.Measurement, "err", err)
		return
	}
	name, err := a.topics.reading(r.Measurement)
	if err != nil { // Validate checks the template and the measurement names
		a.log.Error("no topic for reading", "measurement", r.Measurement, "err", err)
		return
	}
	_, err = a.q.Append(encodeRecord(name, body))
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err == nil && a.refused != "":
		a.log.Info("queue accepts readings again", "refused_meanwhile", a.lost)
		a.refused, a.lost = "", 0
	case err != nil:
		a.lost++
		if reason := refusal(err); reason != a.refused {
			a.log.Error("queue refuses readings; new readings are dropped and counted until there is room", "reason", reason, "err", err)
			a.refused = reason
		}
	}
}

func refusal(err error) string {
	if errors.Is(err, queue.ErrFull) {
		return "queue full (device.queue.max_bytes)"
	}
	return "write failed (disk full or failing?)"
}

// A queue record is the topic, a newline, and the payload: the topic is
// fixed when the reading is taken, so a reading keeps the id it was read
// under.
func encodeRecord(topic string, body []byte) []byte {
	b := make([]byte, 0, len(topic)+1+len(body))
	b = append(b, topic...)
	b = append(b, '\n')
	return append(b, body...)
}

func decodeRecord(data []byte) (topic string, body []byte, err error) {
	for i, c := range data {
		if c == '\n' {
			if i == 0 {
				break
			}
			return string(data[:i]), data[i+1:], nil
		}
	}
	return "", nil, fmt.Errorf("queue record of %d bytes has no topic line", len(data))
}

// health remembers which sensors are failing, for the summary line.
type health struct {
	mu      sync.Mutex
	failing map[string]bool
}

func newHealth() *health { return &health{failing: map[string]bool{}} }

func (h *health) set(name string, failing bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if failing {
		h.failing[name] = true
	} else {
		delete(h.failing, name)
	}
}

func (h *health) failingNames() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for n := range h.failing {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
