// Package fieldtypes knows the type of every field of every measurement
// the pipeline writes, so that a reading whose field has a type the first
// output has already fixed is refused before it is acknowledged.
//
// InfluxDB fixes a field's type (float, integer, unsigned, boolean, string)
// per shard with the first point that brings it, and refuses every later
// point that brings another type. Left to InfluxDB alone, a device writing a
// string into a float field of a shared measurement is found out only after
// its reading was acknowledged.
//
// A type is confirmed or provisional. Confirmed types come from the first
// output: its answer to SHOW FIELD KEYS (Relearn), at start and again
// whenever the pipeline asks it after the output stored or refused a
// write. Provisional types come from readings alone: the first reading to
// bring a field the output has not confirmed. Check refuses a reading only
// when it contradicts a confirmed type. A reading that contradicts a
// provisional type is admitted, and the output decides: InfluxDB refuses
// the wrong point (dead-lettered with its own reason), and the next
// Relearn replaces the provisional type the output contradicts, or
// confirms it. So no reading, which is all a provisional type rests on,
// can shut a field to the devices that write it with the type InfluxDB
// holds (one device writing "hot" while InfluxDB is down, say).
package fieldtypes

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/point"
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

// ParseConflict reads back what Conflict.Error wrote (the detail of a
// field_type_conflict dead letter), so that dead letters can be selected by
// measurement and field.
func ParseConflict(detail string) (Conflict, bool) {
	var c Conflict
	rest, ok := strings.CutPrefix(detail, "field ")
	if !ok {
		return c, false
	}
	if c.Field, rest, ok = unquote(rest); !ok {
		return c, false
	}
	if rest, ok = strings.CutPrefix(rest, " of measurement "); !ok {
		return c, false
	}
	if c.Measurement, rest, ok = unquote(rest); !ok {
		return c, false
	}
	known, got, ok := strings.Cut(strings.TrimPrefix(rest, " is "), ", this reading has ")
	if !ok || !strings.HasPrefix(rest, " is ") {
		return c, false
	}
	var ok1, ok2 bool
	c.Known, ok1 = ParseKind(known)
	c.Got, ok2 = ParseKind(got)
	return c, ok1 && ok2
}

// unquote takes a Go-quoted string off the front of s.
func unquote(s string) (string, string, bool) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", s, false
	}
	v, err := strconv.Unquote(q)
	return v, s[len(q):], err == nil
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

// entry is what the Store knows of one field.
type entry struct {
	kind point.Kind
	// confirmed: the first output holds the field with this type. A
	// provisional type was only learnt from a reading.
	confirmed bool
}

// Field is one field's type as the first output holds it.
type Field struct {
	Measurement, Field string
	Kind               point.Kind
}

// Store maps (measurement, field) to its type. It is safe for concurrent
// use; once a measurement's fields are known, Check takes a read lock and
// allocates nothing.
type Store struct {
	mu          sync.RWMutex
	types       map[key]entry
	provisional int // entries not confirmed
	max         int
	full        atomic.Bool
	// learnt counts the provisional types ever learnt, so that a caller
	// can tell whether readings brought new fields since it last asked.
	learnt atomic.Uint64

	unchecked prometheus.Counter
	corrected prometheus.Counter
	known     prometheus.GaugeFunc
	guessed   prometheus.GaugeFunc
}

// New returns an empty Store holding at most max pairs (DefaultMax when
// max ≤ 0). Past that, new fields are let through unchecked and counted:
// memory stays bounded whatever field names devices invent, and InfluxDB
// still refuses a conflicting point after the fact (it is dead-lettered).
func New(max int) *Store {
	if max <= 0 {
		max = DefaultMax
	}
	s := &Store{types: make(map[key]entry), max: max}
	s.unchecked = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mqflux_field_types_unchecked_total",
		Help: "Fields of admitted readings whose type was not checked or learnt because the field type store was full.",
	})
	s.corrected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mqflux_field_types_corrected_total",
		Help: "Field types the first output answered differently from what mqflux knew (a provisional type learnt from a reading, or a type the output no longer holds).",
	})
	s.known = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqflux_field_types_known",
		Help: "(measurement, field) pairs whose type is known, confirmed by the first output or provisional.",
	}, func() float64 { return float64(s.Len()) })
	s.guessed = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqflux_field_types_provisional",
		Help: "(measurement, field) pairs whose type was learnt from readings only and not yet confirmed by the first output; a reading is never refused for contradicting one.",
	}, func() float64 { return float64(s.Provisional()) })
	return s
}

// Collectors are the Store's metrics.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.unchecked, s.corrected, s.known, s.guessed}
}

// Len is the number of pairs known.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.types)
}

// Provisional is the number of pairs whose type the first output has not
// confirmed.
func (s *Store) Provisional() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.provisional
}

// Learnt counts the provisional types learnt from readings since New; it
// only grows.
func (s *Store) Learnt() uint64 { return s.learnt.Load() }

// Kind returns the type known for a field, confirmed or provisional.
func (s *Store) Kind(measurement, field string) (point.Kind, bool) {
	k, _, ok := s.State(measurement, field)
	return k, ok
}

// State returns the type known for a field and whether the first output
// confirmed it.
func (s *Store) State(measurement, field string) (k point.Kind, confirmed, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.types[key{measurement, field}]
	return e.kind, e.confirmed, ok
}

// Confirm records that the first output holds a field with type k (it
// stored a point of it), whatever was known before. It reports whether the
// Store changed.
func (s *Store) Confirm(measurement, field string, k point.Kind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed, _ := s.confirm(key{measurement, field}, k)
	return changed
}

// confirm sets a pair confirmed with kind k; s.mu is held. corrected: a
// known type was another.
func (s *Store) confirm(kk key, k point.Kind) (changed, corrected bool) {
	e, ok := s.types[kk]
	switch {
	case !ok:
		return s.add(kk, entry{kind: k, confirmed: true}), false
	case e.confirmed && e.kind == k:
		return false, false
	}
	if !e.confirmed {
		s.provisional--
	}
	if e.kind != k {
		s.corrected.Inc()
	}
	s.types[kk] = entry{kind: k, confirmed: true}
	return true, e.kind != k
}

// Update is what a Relearn changed.
type Update struct {
	// Confirmed are the pairs confirmed now that were not before:
	// provisional types the output confirmed or contradicted, and fields
	// not known at all.
	Confirmed []Field
	// Corrected are the pairs among Confirmed whose type changed.
	Corrected []Field
	// Demoted counts confirmed types the output no longer holds (the
	// measurement was dropped, the shards holding the field expired): they
	// are provisional again.
	Demoted int
}

// Relearn takes the first output's whole answer to SHOW FIELD KEYS as the
// truth: every pair it names is confirmed with its type (when the output
// names two types for one field, as shards of InfluxDB may hold, the first
// wins), replacing a provisional type the output contradicts; a confirmed
// type it no longer names becomes provisional, since the output would
// again take any type for it.
func (s *Store) Relearn(answer []Field) Update {
	var u Update
	seen := make(map[key]bool, len(answer))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range answer {
		kk := key{f.Measurement, f.Field}
		if seen[kk] {
			continue
		}
		seen[kk] = true
		changed, corrected := s.confirm(kk, f.Kind)
		if changed {
			u.Confirmed = append(u.Confirmed, f)
		}
		if corrected {
			u.Corrected = append(u.Corrected, f)
		}
	}
	for kk, e := range s.types {
		if e.confirmed && !seen[kk] {
			s.types[kk] = entry{kind: e.kind}
			s.provisional++
			u.Demoted++
		}
	}
	return u
}

// add stores a new pair; s.mu is held. The caller's strings may be views
// of reused buffers: the key is cloned.
func (s *Store) add(kk key, e entry) bool {
	if len(s.types) >= s.max {
		s.full.Store(true)
		s.unchecked.Inc()
		return false
	}
	s.types[key{strings.Clone(kk.measurement), strings.Clone(kk.field)}] = e
	if !e.confirmed {
		s.provisional++
		s.learnt.Add(1)
	}
	return true
}

// Check admits the points of one reading: it returns the first field whose
// type differs from a confirmed one or from an earlier point of the same
// reading, or nil after learning, provisionally, the types of the fields it
// did not know. A field that differs only from a provisional type is
// admitted: the output decides. A reading refused teaches nothing.
func (s *Store) Check(pts *point.Set) *Conflict {
	if c := conflictWithin(pts); c != nil {
		return c
	}
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
	// Scan again: the output may have confirmed a type meanwhile.
	if _, c := s.scan(pts); c != nil {
		return c
	}
	for i := 0; i < pts.Len(); i++ {
		p := pts.At(i)
		for j := range p.Fields {
			f := &p.Fields[j]
			kk := key{p.Measurement, f.Key}
			if _, ok := s.types[kk]; !ok {
				s.add(kk, entry{kind: f.Kind})
			}
		}
	}
	return nil
}

// scan compares every field with the confirmed types; s.mu is held.
func (s *Store) scan(pts *point.Set) (unknown bool, c *Conflict) {
	for i := 0; i < pts.Len(); i++ {
		p := pts.At(i)
		for j := range p.Fields {
			f := &p.Fields[j]
			e, ok := s.types[key{p.Measurement, f.Key}]
			switch {
			case !ok:
				unknown = true
			case e.confirmed && e.kind != f.Kind:
				return unknown, newConflict(p.Measurement, f.Key, e.kind, f.Kind)
			}
		}
	}
	return unknown, nil
}

// conflictWithin finds a field two points of one reading (a line-protocol
// payload) give different types: InfluxDB would store one and refuse the
// other, whatever it held before.
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
