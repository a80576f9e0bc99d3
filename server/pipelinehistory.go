package server

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mqflux/mqflux/flow/pipeline"
	"github.com/mqflux/mqflux/internal/samples"
)

// The pipeline's recent past, for the console's charts: a sample a second
// for the last 15 minutes, kept in memory (900 rows of a few numbers; a
// restart starts them anew).
const (
	historyInterval = time.Second
	historySamples  = 900
)

// pipelineSource is what the history samples: the counts GET /v1/pipeline
// reads, through ReadFlow, which builds no maps (Stats would, every
// second), and Health for the outputs' names.
type pipelineSource interface {
	ReadFlow(*pipeline.Flow)
	Health() pipeline.Health
}

// pipelineHistory samples the pipeline every interval into a ring: readings
// received per second (every input), the spool's depth, and readings
// written per second by each output. Columns: 0 received/s, 1 spool
// records, 2+i output i's written/s, outputs in configuration order (they
// do not change while the server runs).
type pipelineHistory struct {
	src      pipelineSource
	log      *slog.Logger
	interval time.Duration
	outputs  []string
	ring     *samples.Ring

	// The previous sample's counters, for the rates, and the row being
	// filled; both made once, touched only by the sampling goroutine.
	prevAt   time.Time
	prev     []int64 // received, then each output's written
	flow     pipeline.Flow
	row      []float64
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

func newPipelineHistory(src pipelineSource, outputs []string, interval time.Duration, n int, log *slog.Logger) (*pipelineHistory, error) {
	ring, err := samples.NewRing(n, 2+len(outputs))
	if err != nil {
		return nil, err
	}
	return &pipelineHistory{src: src, log: log, interval: interval, outputs: outputs, ring: ring,
		prev: make([]int64, 1+len(outputs)), flow: pipeline.Flow{Written: make([]int64, 0, len(outputs))},
		row:  make([]float64, ring.Cols()),
		stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start takes the first counts (the rates' starting point) and samples
// every interval until Stop.
func (h *pipelineHistory) Start() {
	h.sample(time.Now())
	go func() {
		defer close(h.done)
		tick := time.NewTicker(h.interval)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case now := <-tick.C:
				h.sample(now)
			}
		}
	}()
}

// Stop ends the sampling.
func (h *pipelineHistory) Stop() error {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
	return nil
}

// sample adds a row of rates since the previous sample; the first one only
// records the counters.
func (h *pipelineHistory) sample(now time.Time) {
	h.src.ReadFlow(&h.flow)
	first := h.prevAt.IsZero()
	dt := now.Sub(h.prevAt).Seconds()
	rate := func(i int, cur int64) float64 {
		d := cur - h.prev[i]
		h.prev[i] = cur
		if first || dt <= 0 || d < 0 {
			return 0
		}
		return float64(d) / dt
	}
	h.row[0] = rate(0, h.flow.Received)
	h.row[1] = float64(h.flow.SpoolRecords)
	for i := range h.outputs {
		var written int64
		if i < len(h.flow.Written) {
			written = h.flow.Written[i]
		}
		h.row[2+i] = rate(1+i, written)
	}
	h.prevAt = now
	if first {
		return
	}
	if err := h.ring.Add(now, h.row); err != nil {
		h.log.Error("pipeline history: sample", "err", err)
	}
}

// pipelineHistoryView is what GET /v1/pipeline/history answers: the
// samples as columns, oldest first, Time[i] the time of every column's i-th
// value.
type pipelineHistoryView struct {
	IntervalSeconds float64             `json:"interval_seconds"`
	SpanSeconds     float64             `json:"span_seconds"` // what the ring holds when full
	Time            []float64           `json:"time"`         // unix seconds, to the millisecond
	Received        []float64           `json:"received"`     // readings received per second, all inputs
	SpoolRecords    []float64           `json:"spool_records"`
	Outputs         []outputHistoryView `json:"outputs"` // in configuration order
}

type outputHistoryView struct {
	Name    string    `json:"name"`
	Written []float64 `json:"written"` // readings stored per second
}

func (h *pipelineHistory) view() pipelineHistoryView {
	s := h.ring.Snapshot()
	v := pipelineHistoryView{IntervalSeconds: h.interval.Seconds(), SpanSeconds: h.interval.Seconds() * float64(h.ring.Cap()),
		Time: make([]float64, len(s.Times)), Received: s.Cols[0], SpoolRecords: s.Cols[1], Outputs: make([]outputHistoryView, 0, len(h.outputs))}
	for i, ms := range s.Times {
		v.Time[i] = float64(ms) / 1000
	}
	for i, name := range h.outputs {
		v.Outputs = append(v.Outputs, outputHistoryView{Name: name, Written: s.Cols[2+i]})
	}
	return v
}

func (s *Server) getPipelineHistory(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.history.view())
}

// pipelineOutputNames are the pipeline's outputs, in configuration order.
func pipelineOutputNames(src pipelineSource) []string {
	var names []string
	for _, o := range src.Health().Outputs {
		names = append(names, o.Name)
	}
	return names
}
