package bench

import (
	"context"
	"sync"
	"time"

	"github.com/mqflux/mqflux/internal/backoff"
)

// pacer spaces events evenly at a rate shared by many goroutines, so
// thousands of devices connect at -connect-rate instead of all at once.
type pacer struct {
	interval time.Duration // 0: no limit
	mu       sync.Mutex
	next     time.Time
}

func newPacer(perSecond float64) *pacer {
	if perSecond <= 0 {
		return &pacer{}
	}
	return &pacer{interval: time.Duration(float64(time.Second) / perSecond)}
}

// wait blocks until the caller's turn, or ctx ends.
func (p *pacer) wait(ctx context.Context) error {
	if p.interval == 0 {
		return ctx.Err()
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	return backoff.Sleep(ctx, time.Until(at))
}
