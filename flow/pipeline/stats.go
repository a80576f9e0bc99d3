package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/mqflux/mqflux/flow/output"
)

// Stats are the pipeline's counts since it opened. They are the one record
// of them: the Prometheus metrics (/metrics) and the views (/v1/pipeline,
// the console) both read them, so renaming a metric changes no view.
type Stats struct {
	// By input ("mqtt", "http", "bridge", "replay"): readings received,
	// appended to the spool, and refused because the spool was full.
	Received, Spooled, PushedBack map[string]int64
	// Rejected counts readings that can never become a point, by reason
	// (every input together); RejectedBySource by input, then reason.
	Rejected         map[string]int64
	RejectedBySource map[string]map[string]int64
	// DeadLettered counts dead-letter entries by source; DeadLetterErrors
	// those that could not be written.
	DeadLettered     map[string]int64
	DeadLetterErrors int64
	// Written and PrimaryRejected are the first required output's stored
	// and refused readings; WriteRetries every output's batches offered
	// again after an error.
	Written, PrimaryRejected, WriteRetries int64
	Outputs                                []OutputStats // in configuration order
}

// OutputStats are one output's counts since the pipeline opened.
type OutputStats struct {
	Name     string
	Written  int64 // readings it stored
	Rejected int64 // readings it refused for good (dead-lettered)
	Retries  int64 // batches it failed, offered again after a backoff
	// Own is what the output counts itself (output.StatsReporter); zero
	// when it counts nothing.
	Own output.Stats
}

// Stats returns the counts now.
func (p *Pipeline) Stats() Stats {
	c := &p.m.counts
	st := Stats{
		Received: c.received.byFirst(), Spooled: c.spooled.byFirst(), PushedBack: c.pushedBack.byFirst(),
		Rejected: c.rejected.bySecond(), RejectedBySource: c.rejected.nested(), DeadLettered: c.deadLettered.byFirst(),
		DeadLetterErrors: c.deadLetterErrors.Load(), Written: c.written.Load(),
		PrimaryRejected: c.primaryRejected.Load(), WriteRetries: c.writeRetries.Load(),
	}
	for _, o := range p.runs {
		st.Outputs = append(st.Outputs, OutputStats{Name: o.Name, Written: o.written.Load(), Rejected: o.rejected.Load(),
			Retries: o.retries.Load(), Own: output.StatsOf(o.Output)})
	}
	return st
}

// counts are the pipeline's counters; Stats and the collector read them.
type counts struct {
	received, spooled, pushedBack counterVec // {source}
	rejected                      counterVec // {source, reason}
	deadLettered                  counterVec // {source}
	deadLetterErrors              atomic.Int64
	primaryRejected               atomic.Int64
	writeRetries                  atomic.Int64
	written                       atomic.Int64
}

// counterVec is a set of counters by one or two label values, created on
// first use. A caller on a hot path keeps the *atomic.Int64 it got.
type counterVec struct {
	mu sync.RWMutex
	m  map[[2]string]*atomic.Int64
}

func (v *counterVec) with(a, b string) *atomic.Int64 {
	k := [2]string{a, b}
	v.mu.RLock()
	c := v.m[k]
	v.mu.RUnlock()
	if c != nil {
		return c
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c = v.m[k]; c == nil {
		if v.m == nil {
			v.m = map[[2]string]*atomic.Int64{}
		}
		c = new(atomic.Int64)
		v.m[k] = c
	}
	return c
}

// each calls f with every counter's labels and value.
func (v *counterVec) each(f func(a, b string, n int64)) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for k, c := range v.m {
		f(k[0], k[1], c.Load())
	}
}

// sum is every counter together.
func (v *counterVec) sum() int64 {
	var n int64
	v.each(func(_, _ string, c int64) { n += c })
	return n
}

func (v *counterVec) byFirst() map[string]int64 {
	out := map[string]int64{}
	v.each(func(a, _ string, n int64) { out[a] += n })
	return out
}

func (v *counterVec) bySecond() map[string]int64 {
	out := map[string]int64{}
	v.each(func(_, b string, n int64) { out[b] += n })
	return out
}

func (v *counterVec) nested() map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	v.each(func(a, b string, n int64) {
		if out[a] == nil {
			out[a] = map[string]int64{}
		}
		out[a][b] += n
	})
	return out
}
