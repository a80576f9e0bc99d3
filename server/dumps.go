package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/mqflux/mqflux/flow/dump"
)

// newDumps builds the scheduler of the dumps: section, reading from the
// first output, with its state under data_dir/dumps; nil when dumps are
// off. Its Start and Stop take a nil scheduler.
func newDumps(cfg Config, log *slog.Logger) (*dump.Scheduler, error) {
	if !cfg.Dumps.Enabled() {
		return nil, nil
	}
	p := cfg.Primary()
	src, ok := dump.SourceOf(p.Config)
	if !ok {
		return nil, fmt.Errorf("dumps: the first output (%s, kind %s) answers neither InfluxQL nor SQL, and dumps read from it", p.Name, p.Kind)
	}
	return dump.NewScheduler(cfg.Dumps, src, filepath.Join(cfg.DataDir, "dumps"), log.With("component", "dumps"))
}

// dumpService runs the dump scheduler beside the inputs: it starts with
// the alerts and stops, a dump under way cancelled, before they do.
type dumpService struct{ s *dump.Scheduler }

func (d dumpService) Start()      { d.s.Start(context.Background()) }
func (d dumpService) Stop() error { d.s.Stop(); return nil }
