// Package samples keeps the recent past of a few numbers in memory: a ring
// of a fixed number of rows, each a time and one value per column, that
// overwrites its oldest row once full. It backs the console's short
// charts (the last 15 minutes of the pipeline), which must not grow with
// uptime nor allocate on every sample.
package samples

import (
	"fmt"
	"sync"
	"time"
)

// Ring holds the newest rows added, at most its capacity. Its storage is
// allocated once by NewRing; Add copies into it. It is safe for concurrent
// use.
type Ring struct {
	mu    sync.Mutex
	cols  int
	times []int64   // unix milliseconds, one per row
	vals  []float64 // row-major: row i is vals[i*cols : (i+1)*cols]
	next  int       // the row Add writes next
	full  bool      // every row holds a sample
}

// NewRing makes a ring of capacity rows of cols values each.
func NewRing(capacity, cols int) (*Ring, error) {
	if capacity < 1 || cols < 1 {
		return nil, fmt.Errorf("samples ring of %d rows of %d columns: both must be at least 1", capacity, cols)
	}
	return &Ring{cols: cols, times: make([]int64, capacity), vals: make([]float64, capacity*cols)}, nil
}

// Cols is how many values a row has.
func (r *Ring) Cols() int { return r.cols }

// Cap is how many rows the ring keeps.
func (r *Ring) Cap() int { return len(r.times) }

// Add appends a row, overwriting the oldest once the ring is full. A row
// of another width than Cols is refused: a caller that miscounts its
// columns would otherwise shift every value into the wrong series.
func (r *Ring) Add(t time.Time, row []float64) error {
	if len(row) != r.cols {
		return fmt.Errorf("samples ring: row of %d values, want %d", len(row), r.cols)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.times[r.next] = t.UnixMilli()
	copy(r.vals[r.next*r.cols:], row)
	r.next++
	if r.next == len(r.times) {
		r.next, r.full = 0, true
	}
	return nil
}

// Len is how many rows the ring holds.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.len()
}

func (r *Ring) len() int {
	if r.full {
		return len(r.times)
	}
	return r.next
}

// Snapshot is the ring's rows oldest first, as columns: Times[i] (unix
// milliseconds) is the time of Cols[c][i]. It is a copy, the caller's to keep.
type Snapshot struct {
	Times []int64
	Cols  [][]float64
}

// Snapshot copies the rows out, oldest first.
func (r *Ring) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.len()
	s := Snapshot{Times: make([]int64, n), Cols: make([][]float64, r.cols)}
	for c := range s.Cols {
		s.Cols[c] = make([]float64, n)
	}
	start := 0
	if r.full {
		start = r.next
	}
	for i := range n {
		row := (start + i) % len(r.times)
		s.Times[i] = r.times[row]
		for c := range r.cols {
			s.Cols[c][i] = r.vals[row*r.cols+c]
		}
	}
	return s
}
