package bench

import (
	"sync"
	"sync/atomic"
	"time"
)

// probeLog samples publish→queryable latency: every -probe-every one reading
// (whichever device publishes next) goes to the probe measurement, and its
// publish time is remembered here until the poller sees it in InfluxDB.
type probeLog struct {
	due atomic.Bool // set by the ticker, taken by the next publisher

	mu      sync.Mutex
	pending map[int64]probe // by value, unique in the run
	sent    int
	seen    []time.Duration
}

type probe struct {
	ts     int64 // the reading's timestamp (unix ns)
	sentAt time.Time
}

func newProbeLog() *probeLog { return &probeLog{pending: make(map[int64]probe)} }

// take reports whether the caller's next reading should be a probe.
func (p *probeLog) take() bool {
	return p != nil && p.due.Load() && p.due.CompareAndSwap(true, false)
}

func (p *probeLog) add(value, ts int64, sentAt time.Time) {
	p.mu.Lock()
	p.pending[value] = probe{ts: ts, sentAt: sentAt}
	p.sent++
	p.mu.Unlock()
}

// oldest returns the smallest timestamp still pending, false if none are.
func (p *probeLog) oldest() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var min int64
	for _, pr := range p.pending {
		if min == 0 || pr.ts < min {
			min = pr.ts
		}
	}
	return min, len(p.pending) > 0
}

// visible records that the probes with these values were queryable at at.
func (p *probeLog) visible(values []int64, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range values {
		if pr, ok := p.pending[v]; ok {
			p.seen = append(p.seen, at.Sub(pr.sentAt))
			delete(p.pending, v)
		}
	}
}

func (p *probeLog) result() (sent int, latencies []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, append([]time.Duration(nil), p.seen...)
}
