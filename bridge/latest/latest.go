// Package latest keeps the newest reading of every device and measurement
// in memory, for GET /v1/latest, and passes every spooled reading on to
// live subscribers, for GET /v1/stream. It is fed the line protocol the
// mapper produced, after the spool accepted it.
//
// "Newest" is by the reading's own time, not by arrival: a device replaying
// its offline buffer does not overwrite the values it sent since.
package latest

import (
	"bytes"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/prometheus/client_golang/prometheus"
)

// Reading is one point: its measurement, its device tag, its fields and
// its time, and when the server received it.
type Reading struct {
	Device      string
	Measurement string
	Fields      map[string]any // float64, int64, uint64, string or bool
	Time        time.Time
	Received    time.Time
}

// MarshalJSON writes the reading as /v1/latest and /v1/stream show it:
// time in RFC 3339 with nanoseconds, received in RFC 3339, both in UTC.
func (r Reading) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Device      string         `json:"device"`
		Measurement string         `json:"measurement"`
		Fields      map[string]any `json:"fields"`
		Time        string         `json:"time"`
		Received    string         `json:"received"`
	}{r.Device, r.Measurement, r.Fields,
		r.Time.UTC().Format(time.RFC3339Nano), r.Received.UTC().Format(time.RFC3339)})
}

// Filter selects readings; an empty field matches everything.
type Filter struct {
	Device      string
	Measurement string
}

// Match reports whether r passes the filter.
func (f Filter) Match(r *Reading) bool {
	return (f.Device == "" || f.Device == r.Device) && (f.Measurement == "" || f.Measurement == r.Measurement)
}

type key struct{ device, measurement string }

// Store is the latest reading per series and the live subscribers. The
// zero value is not usable; call New.
type Store struct {
	max int

	mu     sync.RWMutex
	series map[key]*Reading

	subMu  sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	done   chan struct{}

	untracked prometheus.Counter
	undecoded prometheus.Counter
	dropped   prometheus.Counter
	tracked   prometheus.GaugeFunc
	streams   prometheus.GaugeFunc
}

// New makes a store that remembers at most maxSeries series.
func New(maxSeries int) *Store {
	s := &Store{
		max:    maxSeries,
		series: map[key]*Reading{},
		subs:   map[*Subscription]struct{}{},
		done:   make(chan struct{}),
		untracked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqflux_latest_untracked_readings_total",
			Help: "Readings of series /v1/latest does not remember because http.latest_max_series series are already tracked.",
		}),
		undecoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqflux_latest_undecoded_lines_total",
			Help: "Spooled lines /v1/latest and /v1/stream could not decode (they are still stored in InfluxDB).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqflux_stream_dropped_events_total",
			Help: "Readings not sent to a /v1/stream client because it read too slowly.",
		}),
	}
	s.tracked = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqflux_latest_series",
		Help: "Series (device and measurement) /v1/latest remembers.",
	}, func() float64 { s.mu.RLock(); defer s.mu.RUnlock(); return float64(len(s.series)) })
	s.streams = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqflux_stream_clients",
		Help: "Connected /v1/stream clients.",
	}, func() float64 { s.subMu.Lock(); defer s.subMu.Unlock(); return float64(len(s.subs)) })
	return s
}

// Collectors are the store's metrics.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.untracked, s.undecoded, s.dropped, s.tracked, s.streams}
}

// Spooled takes a record of line protocol (one or more lines, timestamps
// in nanoseconds) the spool accepted, remembers each point if it is the
// newest of its series and passes it to the subscribers. It never blocks on
// a subscriber.
func (s *Store) Spooled(rec []byte, received time.Time) {
	dec := lineprotocol.NewDecoderWithBytes(rec)
	for dec.Next() {
		r, err := decode(dec, received)
		if err != nil {
			s.undecoded.Inc()
			continue
		}
		s.Add(r)
	}
}

func decode(dec *lineprotocol.Decoder, received time.Time) (*Reading, error) {
	m, err := dec.Measurement()
	if err != nil {
		return nil, err
	}
	r := &Reading{Measurement: string(m), Received: received, Fields: map[string]any{}}
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return nil, err
		}
		if k == nil {
			break
		}
		if bytes.Equal(k, []byte("device")) {
			r.Device = string(v)
		}
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return nil, err
		}
		if k == nil {
			break
		}
		r.Fields[string(k)] = v.Interface()
	}
	t, err := dec.Time(lineprotocol.Nanosecond, received)
	if err != nil {
		return nil, err
	}
	r.Time = t
	return r, nil
}

// Add remembers r if it is the newest reading of its series (a reading
// with the same time replaces the one held, as it does in InfluxDB) and
// passes it to the subscribers. r must not change afterwards.
func (s *Store) Add(r *Reading) {
	k := key{r.Device, r.Measurement}
	s.mu.Lock()
	old, ok := s.series[k]
	switch {
	case ok && !r.Time.Before(old.Time):
		s.series[k] = r
	case !ok && len(s.series) < s.max:
		s.series[k] = r
	case !ok:
		s.untracked.Inc()
	}
	s.mu.Unlock()
	s.publish(r)
}

// Latest is the newest reading of every series that passes f, sorted by
// device, then measurement.
func (s *Store) Latest(f Filter) []*Reading {
	s.mu.RLock()
	out := make([]*Reading, 0, min(len(s.series), 1024))
	for _, r := range s.series {
		if f.Match(r) {
			out = append(out, r)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Device != out[j].Device {
			return out[i].Device < out[j].Device
		}
		return out[i].Measurement < out[j].Measurement
	})
	return out
}
