package observe

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/point"
)

// queue is one observer's ring of reading slots. The ingest side fills the
// slot after the last under the lock; the observer's goroutine reads the
// first slot without the lock (no one else touches it while it is counted
// in n) and frees it afterwards.
type queue struct {
	obs     Observer
	log     *slog.Logger
	dropped prometheus.Counter
	wake    chan struct{} // one pending wake-up is enough
	done    chan struct{} // closed when run returns

	mu      sync.Mutex
	slots   []slot
	head, n int
	closed  bool
	episode int64 // readings dropped since the observer last caught up
}

// slot owns the storage of one queued reading.
type slot struct {
	r   Reading
	set point.Set
}

// Room made in each slot up front, enough for a typical reading, so that
// the first pass through the ring does not allocate on the ingest path.
const slotTags, slotFields, slotBytes = 4, 4, 192

func newQueue(o Observer, size int, log *slog.Logger, dropped prometheus.Counter) *queue {
	q := &queue{obs: o, log: log, dropped: dropped, slots: make([]slot, size),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	for i := range q.slots {
		q.slots[i].set.Grow(slotTags, slotFields, slotBytes)
	}
	return q
}

// put copies one point into the next free slot, or drops it when there is
// none.
func (q *queue) put(source, topic string, received time.Time, p *point.Point) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if q.n == len(q.slots) {
		q.episode++
		first := q.episode == 1
		q.mu.Unlock()
		q.dropped.Inc()
		if first {
			q.log.Warn("observer is behind: dropping readings for it until it catches up (they are still stored)", "queue", len(q.slots))
		}
		return
	}
	s := &q.slots[(q.head+q.n)%len(q.slots)]
	s.set.Reset()
	s.r.Point = *s.set.Add(p)
	s.r.Topic = s.set.Keep(topic)
	s.r.Source, s.r.Received = source, received
	q.n++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run hands queued readings to the observer until the queue is closed and
// empty.
func (q *queue) run() {
	defer close(q.done)
	for {
		s, ok := q.next()
		if !ok {
			return
		}
		q.obs.Observe(&s.r)
		q.mu.Lock()
		q.head = (q.head + 1) % len(q.slots)
		q.n--
		q.mu.Unlock()
	}
}

// next waits for a queued reading; false once the queue is closed and empty.
func (q *queue) next() (*slot, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 {
		if q.episode > 0 {
			q.log.Warn("observer caught up", "dropped", q.episode)
			q.episode = 0
		}
		if q.closed {
			return nil, false
		}
		q.mu.Unlock()
		<-q.wake
		q.mu.Lock()
	}
	return &q.slots[q.head], true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// close refuses further readings and wakes the goroutine to finish.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// discard forgets what is queued beyond the reading in hand, so that the
// goroutine ends once that one is done.
func (q *queue) discard() {
	q.mu.Lock()
	q.n = min(q.n, 1)
	q.mu.Unlock()
}
