// Package fieldtypes knows the type of every field of every measurement
// the pipeline writes, so that a reading whose field has another type is
// refused before it is acknowledged.
//
// InfluxDB fixes a field's type (float, integer, unsigned, boolean, string)
// per shard with the first point that brings it, and refuses every later
// point that brings another type. Left to InfluxDB, one device writing a
// string into a float field of a shared measurement would have its point
// stored first by luck of the batch, and the readings of every other device
// refused after they were acknowledged. The Store learns the types from
// InfluxDB at start (Load) and from every reading it admits (first type
// wins), and Check refuses the reading that disagrees.
package fieldtypes

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/bridge/point"
)

// DefaultMax bounds the (measurement, field) pairs a Store holds when the
// caller gives no bound: some megabytes, far more than a fleet's schema.
const DefaultMax = 100_000

// Conflict is a field whose type differs from the one the Store knows.
type Conflict struct {
	Measurement, Field string
	Known, Got         point.Kind
}

// newConflict copies the names, which may be views of a reused buffer.
func newConflict(measurement, field string, known, got point.Kind) *Conflict {
	return &Conflict{Measurement: strings.Clone(measurement), Field: strings.Clone(field), Known: known, Got: got}
}

func (c *Conflict) Error() string {
	return fmt.Sprintf("field %q of measurement %q is %s, this reading has %s", c.Field, c.Measurement, KindName(c.Known), KindName(c.Got))
}

// KindName is InfluxDB's name for a field type, as SHOW FIELD KEYS gives it.
func KindName(k point.Kind) string {
	switch k {
	case point.Float:
		return "float"
	case point.Int:
		return "integer"
	case point.Uint:
		return "unsigned"
	case point.Bool:
		return "boolean"
	case point.String:
		return "string"
	}
	return fmt.Sprintf("kind %d", k)
}

// ParseKind reads InfluxDB's name for a field type.
func ParseKind(name string) (point.Kind, bool) {
	for k := point.Float; k <= point.String; k++ {
		if KindName(k) == name {
			return k, true
		}
	}
	return 0, false
}

type key struct{ measurement, field string }

// Store maps (measurement, field) to its type. It is safe for concurrent
// use; once a measurement's fields are known, Check takes a read lock and
// allocates nothing.
type Store struct {
	mu    sync.RWMutex
	types map[key]point.Kind
	max   int
	full  atomic.Bool

	unchecked prometheus.Counter
	known     prometheus.GaugeFunc
}

// New returns an empty Store holding at most max pairs (DefaultMax when
// max ≤ 0). Past that, new fields are let through unchecked and counted:
// memory stays bounded whatever field names devices invent, and InfluxDB
// still refuses a conflicting point after the fact (it is dead-lettered).
func New(max int) *Store {
	if max <= 0 {
		max = DefaultMax
	}
	s := &Store{types: make(map[key]point.Kind), max: max}
	s.unchecked = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mqflux_field_types_unchecked_total",
		Help: "Fields of admitted readings whose type was not checked or learnt because the field type store was full.",
	})
	s.known = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqflux_field_types_known",
		Help: "(measurement, field) pairs whose type is known, from InfluxDB at start and from readings since.",
	}, func() float64 { return float64(s.Len()) })
	return s
}

// Collectors are the Store's metrics.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.unchecked, s.known}
}

// Len is the number of pairs known.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.types)
}

// Kind returns the type known for a field.
func (s *Store) Kind(measurement, field string) (point.Kind, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.types[key{measurement, field}]
	return k, ok
}

// Learn records a field's type unless one is known already (the first type
// wins, as in InfluxDB) or the Store is full. It reports whether the type
// known now is k.
func (s *Store) Learn(measurement, field string, k point.Kind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.types[key{measurement, field}]; ok {
		return have == k
	}
	return s.add(measurement, field, k)
}

// add stores a new pair; s.mu is held.
func (s *Store) add(measurement, field string, k point.Kind) bool {
	if len(s.types) >= s.max {
		s.full.Store(true)
		s.unchecked.Inc()
		return false
	}
	// The caller's strings may be views of reused buffers.
	s.types[key{strings.Clone(measurement), strings.Clone(field)}] = k
	return true
}

// Check admits the points of one reading: it returns the first field whose
// type differs from the known one or from an earlier point of the same
// reading, or nil after learning the types of the fields it did not know.
// A reading refused teaches nothing.
func (s *Store) Check(pts *point.Set) *Conflict {
	s.mu.RLock()
	unknown, c := s.scan(pts)
	s.mu.RUnlock()
	if c != nil || !unknown {
		return c
	}
	if s.full.Load() {
		// Nothing more will be learnt; the known fields were checked.
		s.unchecked.Inc()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Scan again: another reading may have taught a type meanwhile.
	if _, c := s.scan(pts); c != nil {
		return c
	}
	if c := conflictWithin(pts); c != nil {
		return c
	}
	for i := 0; i < pts.Len(); i++ {
		p := pts.At(i)
		for j := range p.Fields {
			f := &p.Fields[j]
			if _, ok := s.types[key{p.Measurement, f.Key}]; !ok {
				s.add(p.Measurement, f.Key, f.Kind)
			}
		}
	}
	return nil
}

// scan compares every field with the known types; s.mu is held.
func (s *Store) scan(pts *point.Set) (unknown bool, c *Conflict) {
	for i := 0; i < pts.Len(); i++ {
		p := pts.At(i)
		for j := range p.Fields {
			f := &p.Fields[j]
			have, ok := s.types[key{p.Measurement, f.Key}]
			switch {
			case !ok:
				unknown = true
			case have != f.Kind:
				return unknown, newConflict(p.Measurement, f.Key, have, f.Kind)
			}
		}
	}
	return unknown, nil
}

// conflictWithin finds a field two points of one reading (a line-protocol
// payload) give different types.
func conflictWithin(pts *point.Set) *Conflict {
	for i := 1; i < pts.Len(); i++ {
		p := pts.At(i)
		for _, f := range p.Fields {
			for j := 0; j < i; j++ {
				q := pts.At(j)
				if q.Measurement != p.Measurement {
					continue
				}
				if g := q.Field(f.Key); g != nil && g.Kind != f.Kind {
					return newConflict(p.Measurement, f.Key, g.Kind, f.Kind)
				}
			}
		}
	}
	return nil
}
