// Package latest keeps the newest reading of every device and measurement
// in memory, for GET /v1/latest, and passes every spooled reading on to
// live subscribers, for GET /v1/stream. Both are observers of the pipeline
// (package observe): they see each reading as a value after the spool
// accepted it, off the path that answers its sender.
//
// "Newest" is by the reading's own time, not by arrival: a device replaying
// its offline buffer does not overwrite the values it sent since.
package latest

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
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
func (f Filter) Match(r *Reading) bool { return f.match(r.Device, r.Measurement) }

func (f Filter) match(device, measurement string) bool {
	return (f.Device == "" || f.Device == device) && (f.Measurement == "" || f.Measurement == measurement)
}

type key struct{ device, measurement string }

// entry is the newest reading of one series, in storage reused for the
// next: remembering a newer reading allocates nothing.
type entry struct {
	pt       *point.Point // in set
	set      point.Set
	received time.Time
}

// Store is the latest reading per series and the live subscribers. The
// zero value is not usable; call New.
type Store struct {
	max       int
	perDevice int // 0: no bound per device

	mu       sync.RWMutex
	series   map[key]*entry
	ofDevice map[string]int // series held per device, for perDevice

	subMu  sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
	done   chan struct{}

	untracked *prometheus.CounterVec // {limit}
	dropped   prometheus.Counter
	tracked   prometheus.GaugeFunc
	streams   prometheus.GaugeFunc
}

// Labels of mqflux_latest_untracked_readings_total: which bound kept a
// reading's series out.
const (
	limitSeries          = "latest_max_series"
	limitSeriesPerDevice = "latest_max_series_per_device"
)

// Option changes a Store's defaults.
type Option func(*Store)

// MaxSeriesPerDevice has the store remember at most n series of any one
// device (0: no bound but the store's own). Without it one device sending
// new measurement names would take every place and hide all the others.
func MaxSeriesPerDevice(n int) Option { return func(s *Store) { s.perDevice = n } }

// New makes a store that remembers at most maxSeries series.
func New(maxSeries int, opts ...Option) *Store {
	s := &Store{
		max:      maxSeries,
		series:   map[key]*entry{},
		ofDevice: map[string]int{},
		subs:     map[*Subscription]struct{}{},
		done:     make(chan struct{}),
		untracked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_latest_untracked_readings_total",
			Help: "Readings of series /v1/latest does not remember, by the bound that was reached: " +
				"http.latest_max_series series in all, or http.latest_max_series_per_device of the reading's device.",
		}, []string{"limit"}),
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
	for _, o := range opts {
		o(s)
	}
	// Both series exist from the start, so a dashboard sees 0, not nothing.
	s.untracked.WithLabelValues(limitSeries)
	s.untracked.WithLabelValues(limitSeriesPerDevice)
	return s
}

// Collectors are the store's metrics.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.untracked, s.dropped, s.tracked, s.streams}
}

// Observers are what the pipeline feeds: "latest" remembers the newest
// reading of each series, "stream" passes readings to the subscribers.
// They are two so that each falls behind (and drops) on its own.
func (s *Store) Observers() []observe.Observer {
	return []observe.Observer{keeper{s}, streamer{s}}
}

// keeper is the observer behind /v1/latest.
type keeper struct{ s *Store }

// Name labels its metrics.
func (keeper) Name() string { return "latest" }

// Wants readings from every input.
func (keeper) Wants(string) bool { return true }

// Observe remembers r if it is the newest reading of its series (a reading
// with the same time replaces the one held, as it does in InfluxDB).
func (k keeper) Observe(r *observe.Reading) { k.s.remember(r) }

// streamer is the observer behind /v1/stream.
type streamer struct{ s *Store }

// Name labels its metrics.
func (streamer) Name() string { return "stream" }

// Wants readings from every input.
func (streamer) Wants(string) bool { return true }

// Observe passes r to the subscribers whose filter it matches, never
// waiting for one.
func (st streamer) Observe(r *observe.Reading) { st.s.publish(r) }

func (s *Store) remember(r *observe.Reading) {
	dev := r.Device()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.series[key{dev, r.Measurement}]
	switch {
	case ok && r.Time < e.pt.Time:
		return
	case !ok && len(s.series) >= s.max:
		s.untracked.WithLabelValues(limitSeries).Inc()
		return
	case !ok && s.perDevice > 0 && s.ofDevice[dev] >= s.perDevice:
		s.untracked.WithLabelValues(limitSeriesPerDevice).Inc()
		return
	case !ok:
		e = &entry{}
		// The reading's strings live only as long as Observe: the keys
		// get their own.
		d := strings.Clone(dev)
		s.series[key{d, strings.Clone(r.Measurement)}] = e
		s.ofDevice[d]++
	}
	e.set.Reset()
	e.pt = e.set.Add(&r.Point)
	e.received = r.Received
}

// reading builds what /v1/latest and /v1/stream show of a point.
func reading(p *point.Point, received time.Time) *Reading {
	r := &Reading{
		Device:      strings.Clone(p.Tag("device")),
		Measurement: strings.Clone(p.Measurement),
		Fields:      make(map[string]any, len(p.Fields)),
		Time:        p.At(),
		Received:    received,
	}
	for i := range p.Fields {
		f := &p.Fields[i]
		v := f.Value()
		if s, ok := v.(string); ok {
			v = strings.Clone(s)
		}
		r.Fields[strings.Clone(f.Key)] = v
	}
	return r
}

// Latest is the newest reading of every series that passes f, sorted by
// device, then measurement.
func (s *Store) Latest(f Filter) []*Reading {
	s.mu.RLock()
	out := make([]*Reading, 0, min(len(s.series), 1024))
	for k, e := range s.series {
		if f.match(k.device, k.measurement) {
			out = append(out, reading(e.pt, e.received))
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

// Forget drops every series of device (DELETE /v1/devices/{device}) and
// returns how many there were. A later reading of the device is
// remembered afresh.
func (s *Store) Forget(device string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.series {
		if k.device == device {
			delete(s.series, k)
			n++
		}
	}
	delete(s.ofDevice, device)
	return n
}
