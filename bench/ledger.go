package bench

import (
	"slices"
	"sync"
)

// Ledger remembers every reading of a run that the broker acknowledged:
// its device, measurement, value and timestamp. The report only counts;
// a ledger lets a test compare what InfluxDB holds with exactly what was
// acknowledged, point by point. Set Config.Ledger to keep one (QoS 1 only:
// at QoS 0 nothing is acknowledged).
type Ledger struct {
	mu    sync.Mutex
	acked map[int64]Reading // by value, which is unique in a run
}

// Reading is one acknowledged reading as it was sent.
type Reading struct {
	Device      string
	Measurement string // the run's measurement, or its _probe measurement
	Value       int64
	Time        int64 // unix ns in the payload; 0 when the payload carries no time
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{acked: make(map[int64]Reading)} }

// Len is the number of distinct readings acknowledged so far; a test may
// poll it while the run goes on.
func (l *Ledger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// Readings returns the acknowledged readings ordered by value.
func (l *Ledger) Readings() []Reading {
	l.mu.Lock()
	out := make([]Reading, 0, len(l.acked))
	for _, r := range l.acked {
		out = append(out, r)
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b Reading) int {
		switch {
		case a.Value < b.Value:
			return -1
		case a.Value > b.Value:
			return 1
		}
		return 0
	})
	return out
}

// add records an acknowledgement; a second PUBACK for the same reading (a
// resend acknowledged twice) is counted once.
func (l *Ledger) add(r Reading) {
	l.mu.Lock()
	l.acked[r.Value] = r
	l.mu.Unlock()
}
