package observe

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/point"
)

// DefaultQueue is how many readings an observer may fall behind by before
// readings are dropped for it.
const DefaultQueue = 1024

// Hub hands readings to observers. A nil *Hub has no observers.
type Hub struct {
	queues  []*queue
	dropped *prometheus.CounterVec
	queued  *prometheus.GaugeVec
}

// New starts one goroutine per observer, each behind a queue of size
// readings (DefaultQueue when size ≤ 0). Stop ends them.
func New(log *slog.Logger, size int, observers ...Observer) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if size <= 0 {
		size = DefaultQueue
	}
	h := &Hub{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_observer_dropped_total",
			Help: "Spooled readings an observer did not see because it was behind (they are still stored).",
		}, []string{"observer"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mqflux_observer_queued",
			Help: "Readings waiting for an observer.",
		}, []string{"observer"}),
	}
	for _, o := range observers {
		q := newQueue(o, size, log.With("observer", o.Name()), h.dropped.WithLabelValues(o.Name()))
		h.queued.WithLabelValues(o.Name()).Set(0)
		h.queues = append(h.queues, q)
		go q.run()
	}
	return h
}

// Publish hands every point of pts to every observer that wants source. It
// never waits for an observer and allocates nothing once the queues' slots
// have grown to the readings they carry. The points are copied: pts may be
// reused when Publish returns.
func (h *Hub) Publish(source, topic string, received time.Time, pts *point.Set) {
	if h == nil {
		return
	}
	for _, q := range h.queues {
		if !q.obs.Wants(source) {
			continue
		}
		for i := 0; i < pts.Len(); i++ {
			q.put(source, topic, received, pts.At(i))
		}
	}
}

// Stop lets every observer finish the readings already queued, then ends
// its goroutine; later Publish calls are ignored. If ctx ends first, Stop
// returns naming the observers still busy (their goroutines end once the
// reading in hand is done; what is still queued is discarded).
func (h *Hub) Stop(ctx context.Context) error {
	if h == nil {
		return nil
	}
	for _, q := range h.queues {
		q.close()
	}
	var busy []string
	for _, q := range h.queues {
		select {
		case <-q.done:
		case <-ctx.Done():
			q.discard()
			busy = append(busy, q.obs.Name())
		}
	}
	if len(busy) > 0 {
		return fmt.Errorf("stop observers: %s still busy: %w", strings.Join(busy, ", "), ctx.Err())
	}
	return nil
}

// Collectors are the hub's metrics.
func (h *Hub) Collectors() []prometheus.Collector {
	if h == nil {
		return nil
	}
	return []prometheus.Collector{h.dropped, h.queuedFunc()}
}

// queuedFunc refreshes the gauge on each scrape rather than on each reading.
func (h *Hub) queuedFunc() prometheus.Collector {
	return collectFunc{h.queued, func() {
		for _, q := range h.queues {
			h.queued.WithLabelValues(q.obs.Name()).Set(float64(q.len()))
		}
	}}
}

type collectFunc struct {
	*prometheus.GaugeVec
	before func()
}

func (c collectFunc) Collect(ch chan<- prometheus.Metric) {
	c.before()
	c.GaugeVec.Collect(ch)
}
