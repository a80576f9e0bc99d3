package natsinput

import (
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/alert"
	"github.com/mqflux/mqflux/flow/latest"
)

// The views: the live Service where this instance leads, the saved state
// elsewhere.

func (f *fleet) Devices(flt alert.DeviceFilter) []alert.DeviceView {
	svc, v := f.current()
	if svc != nil {
		return svc.Devices(flt)
	}
	return v.Devices(flt)
}

func (f *fleet) Alerts() alert.Alerts {
	svc, v := f.current()
	if svc != nil {
		return svc.Alerts()
	}
	return v.Alerts()
}

func (f *fleet) latest(flt latest.Filter) []*latest.Reading {
	svc, v := f.current()
	if svc != nil {
		return svc.Latest(flt)
	}
	return v.Latest(flt)
}

func (f *fleet) current() (*alert.Service, *alert.View) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.view == nil {
		return f.svc, &alert.View{}
	}
	return f.svc, f.view
}

// Routes adds /v1/devices, /v1/alerts and /v1/latest.
func (f *fleet) Routes(mux *http.ServeMux, wrap func(endpoint string, h http.Handler) http.Handler) {
	alert.Routes(mux, wrap, f)
	alert.LatestRoute(mux, wrap, f.latest)
}

// Health says who holds the lease and how fresh the state served is.
func (f *fleet) Health() alert.FleetHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := alert.FleetHealth{Instance: f.name, Detail: f.detail}
	if f.lease != nil {
		st := f.lease.State()
		h.Holder, h.Since, h.Gained = st.Holder, st.Since, st.Gained
		h.Leading = st.Held && f.svc != nil
		if st.Takeover > 0 {
			h.Takeover = st.Takeover.Round(time.Millisecond).String()
		}
	}
	if f.view != nil {
		h.Devices, h.Pending = f.view.Len(), f.view.Pending()
		h.StateAge = time.Since(f.viewAt).Round(time.Second).String()
	}
	return h
}

// fleetMetrics are the fleet's own, and those of the Service while this
// instance leads (a new Service at each takeover: its counters start
// from zero there).
type fleetMetrics struct {
	fleet      *fleet
	leading    prometheus.Gauge
	gained     prometheus.Counter
	observed   prometheus.Counter
	stateBytes prometheus.Gauge
	unreadable prometheus.Counter
}

func newFleetMetrics() *fleetMetrics {
	return &fleetMetrics{
		leading: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mqflux_fleet_leading",
			Help: "1 while this instance holds the alerts lease and alerts for the fleet, else 0."}),
		gained: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqflux_fleet_lease_gained_total",
			Help: "Times this instance took the alerts lease and began alerting."}),
		observed: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqflux_fleet_readings_observed_total",
			Help: "Messages of the whole stream the alerting instance decoded for the registry and rules."}),
		stateBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mqflux_fleet_state_bytes",
			Help: "Size of the alert state last saved in the fleet bucket (gzipped JSON)."}),
		unreadable: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqflux_fleet_state_unreadable_total",
			Help: "Values of the alert state key this instance could not read (it serves the state before)."}),
	}
}

// Collectors are the fleet's metrics.
func (f *fleet) Collectors() []prometheus.Collector {
	return []prometheus.Collector{f.m.leading, f.m.gained, f.m.observed, f.m.stateBytes, f.m.unreadable, f.m}
}

// Describe describes nothing: the Service's metrics come and go with
// the lease (an unchecked collector).
func (m *fleetMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect collects the Service's metrics while this instance leads.
func (m *fleetMetrics) Collect(ch chan<- prometheus.Metric) {
	m.fleet.mu.Lock()
	svc := m.fleet.svc
	m.fleet.mu.Unlock()
	if svc == nil {
		return
	}
	for _, c := range svc.Collectors() {
		c.Collect(ch)
	}
}

// natsPublisher publishes the mqtt notifier's messages as NATS messages
// on the topic's subject, which nats-server's MQTT side delivers to MQTT
// subscribers of the topic (at most once, and not retained).
type natsPublisher struct{ nc *nats.Conn }

func (p natsPublisher) Publish(topic string, payload []byte, _ bool, _ byte) error {
	subject, err := TopicToSubject(topic)
	if err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return p.nc.Publish(subject, payload)
}

var _ alert.Lister = (*fleet)(nil)
