package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/input"
)

// probe is an input that counts its starts and stops.
type probe struct {
	input.Base
	startErr      error
	block         bool // Start waits for its context, as a broker that is away
	starts, stops atomic.Int32
}

func (p *probe) Start(ctx context.Context) error {
	p.starts.Add(1)
	if p.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return p.startErr
}

func (p *probe) Stop() error {
	p.stops.Add(1)
	return nil
}

// The built-in inputs start in order and a failure stops the run; the
// entries start in the background, a failure is reported, and every
// input started is stopped exactly once, a blocked start ended first.
func TestInputsStartStop(t *testing.T) {
	builtin := &probe{Base: input.Base{ID: "mqtt"}}
	refused := &probe{Base: input.Base{ID: "refused"}, startErr: errors.New("not authorised")}
	away := &probe{Base: input.Base{ID: "away"}, block: true}
	ins := inputs{list: []input.Input{builtin, refused, away}, wait: 1, log: slog.New(slog.DiscardHandler)}
	if err := ins.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(strings.Join(ins.down(), "|"), "refused: cannot start: not authorised") {
		if time.Now().After(deadline) {
			t.Fatalf("down: %q", ins.down())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := ins.stop(); err != nil {
		t.Fatal(err)
	}
	_ = ins.stop() // a second stop stops nothing again
	for _, p := range []*probe{builtin, refused, away} {
		if p.starts.Load() != 1 || p.stops.Load() != 1 {
			t.Errorf("%s: %d starts, %d stops; want 1 each", p.Name(), p.starts.Load(), p.stops.Load())
		}
	}

	// A built-in input that cannot start ends the start; the ones started
	// before it, and it, are stopped once.
	first := &probe{Base: input.Base{ID: "mqtt"}}
	broken := &probe{Base: input.Base{ID: "http"}, startErr: errors.New("address in use")}
	never := &probe{Base: input.Base{ID: "entry"}}
	ins = inputs{list: []input.Input{first, broken, never}, wait: 2, log: slog.New(slog.DiscardHandler)}
	if err := ins.start(context.Background()); err == nil || !strings.Contains(err.Error(), "input http: address in use") {
		t.Fatalf("start: %v", err)
	}
	_ = ins.stop()
	if first.stops.Load() != 1 || broken.stops.Load() != 1 || never.starts.Load() != 0 || never.stops.Load() != 0 {
		t.Errorf("stops %d %d, entry started %d stopped %d", first.stops.Load(), broken.stops.Load(), never.starts.Load(), never.stops.Load())
	}
}
