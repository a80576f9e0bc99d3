package server

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/configfile"
)

// The output kinds of the server's tests, declared once for all of them.

// memKind is an output kind that exists only in the server's tests: it
// registers itself as an outputs: kind would from its own package, owns
// its keys (label, capacity) and keeps what it is given in memory. That
// the server configures it, feeds it and shows it in /healthz and
// /v1/pipeline proves a new output needs no edit of the server's code.
const memKind = "memtest"

type memConfig struct {
	Label    string `yaml:"label"`
	Capacity int    `yaml:"capacity"`
	// FailFirst is how many writes fail before the output takes any.
	FailFirst int `yaml:"fail_first"`
}

func (c *memConfig) Validate(v *configfile.Validator) {
	v.NonEmpty("label", c.Label)
	v.Between("capacity", c.Capacity, 1, 1000)
}

func (c *memConfig) Describe() output.Description {
	return output.Description{Target: "memory:" + c.Label, Details: map[string]string{"capacity": strconv.Itoa(c.Capacity)}}
}

type memOutput struct {
	mu        sync.Mutex
	records   []string
	failFirst int
	refused   int64
}

func (m *memOutput) Write(_ context.Context, batch [][]byte) ([]output.Rejected, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refused < int64(m.failFirst) {
		m.refused++
		return nil, errors.New("memtest: not yet")
	}
	for _, r := range batch {
		m.records = append(m.records, string(r))
	}
	return nil, nil
}

// Stats counts the refused writes as the output's own retries.
func (m *memOutput) Stats() output.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return output.Stats{Retries: map[string]int64{"not_yet": m.refused}}
}

func (m *memOutput) Records() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.records...)
}

// memOutputs finds the output built for a label, for the test to look
// into.
var memOutputs sync.Map // label → *memOutput

// deleteKind (sorted after influxdb, as kind lists in other tests expect)
// is the same output with a configuration that is an
// output.DeviceDeleter: it keeps in memory the devices it was asked to
// delete, as a SQL output would run its DELETE.
const deleteKind = "sqltest"

type deleteConfig struct {
	memConfig `yaml:",inline"`
}

// deleted are the devices DeleteDevice was asked for, by label. Locked:
// the test reads them after an HTTP answer, an order the race detector
// cannot see through the socket.
var deleted = struct {
	sync.Mutex
	by map[string][]string
}{by: map[string][]string{}}

func (c *deleteConfig) DeleteDevice(_ context.Context, device string) error {
	deleted.Lock()
	defer deleted.Unlock()
	deleted.by[c.Label] = append(deleted.by[c.Label], device)
	return nil
}

// deletedDevices is a copy of what DeleteDevice was asked for label, and
// forgets it (a test run again with -count starts afresh).
func deletedDevices(label string) []string {
	deleted.Lock()
	defer deleted.Unlock()
	got := slices.Clone(deleted.by[label])
	delete(deleted.by, label)
	return got
}

func init() {
	newMem := func(c *memConfig) (output.Output, error) {
		m := &memOutput{failFirst: c.FailFirst}
		memOutputs.Store(c.Label, m)
		return m, nil
	}
	output.Register(memKind, output.Kind{
		DefaultConfig: func() output.Config { return &memConfig{Capacity: 100} },
		New:           func(_ string, c output.Config, _ *slog.Logger) (output.Output, error) { return newMem(c.(*memConfig)) },
	})
	output.Register(deleteKind, output.Kind{
		DefaultConfig: func() output.Config { return &deleteConfig{memConfig{Capacity: 100}} },
		New: func(_ string, c output.Config, _ *slog.Logger) (output.Output, error) {
			return newMem(&c.(*deleteConfig).memConfig)
		},
	})
}
