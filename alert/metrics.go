package alert

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's: counters it bumps, and gauges of the
// registry read on each scrape. No metric has a device label: a fleet's
// size would be its cardinality.
type metrics struct {
	s             *Service
	notifications *prometheus.CounterVec
	transitions   *prometheus.CounterVec
	devices       *prometheus.Desc
	active        *prometheus.Desc
	pending       *prometheus.Desc
	untracked     *prometheus.Desc
}

func newMetrics(s *Service) *metrics {
	m := &metrics{
		s: s,
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_notifications_total",
			Help: "Attempts at delivering alert notifications, by notifier kind and outcome (sent, retried, refused, dropped).",
		}, []string{"kind", "outcome"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_alert_transitions_total",
			Help: "Alerts that fired or resolved, by rule and state.",
		}, []string{"rule", "state"}),
		devices: prometheus.NewDesc("mqflux_devices",
			"Devices in the registry, by state (online, silent, offline).", []string{"state"}, nil),
		active: prometheus.NewDesc("mqflux_alerts_active",
			"Alerts firing now, by rule.", []string{"rule"}, nil),
		pending: prometheus.NewDesc("mqflux_notifications_pending",
			"Notifications saved and not yet accepted, by notifier.", []string{"notifier"}, nil),
		untracked: prometheus.NewDesc("mqflux_devices_untracked_readings_total",
			"Readings of devices beyond alerts.max_devices, which the registry does not track.", nil, nil),
	}
	for _, n := range s.notifiers {
		for _, o := range []string{"sent", "retried", "refused", "dropped"} {
			m.notifications.WithLabelValues(n.Kind(), o)
		}
	}
	return m
}

func (m *metrics) outcome(kind, outcome string) {
	m.notifications.WithLabelValues(kind, outcome).Inc()
}

// Collectors are the service's metrics.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.m.notifications, s.m.transitions, s.m}
}

// Describe implements prometheus.Collector for the registry's gauges.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.devices
	ch <- m.active
	ch <- m.pending
	ch <- m.untracked
}

// Collect counts the registry under the service's lock.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.s
	s.mu.Lock()
	states := map[string]int{StateOnline: 0, StateSilent: 0, StateOffline: 0}
	active := map[string]int{RuleSilent: 0, RuleOffline: 0}
	for i := range s.o.Config.Rules {
		active[s.o.Config.Rules[i].Name] = 0
	}
	for _, d := range s.eng.devices {
		states[d.State()]++
		for rule, a := range d.Alerts {
			if a.Firing {
				active[rule]++
			}
		}
	}
	pending := make(map[string]int, len(s.outbox))
	for name, q := range s.outbox {
		pending[name] = len(q)
	}
	untracked := s.eng.untracked
	s.mu.Unlock()
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(m.devices, prometheus.GaugeValue, float64(n), st)
	}
	for rule, n := range active {
		ch <- prometheus.MustNewConstMetric(m.active, prometheus.GaugeValue, float64(n), rule)
	}
	for name, n := range pending {
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(n), name)
	}
	ch <- prometheus.MustNewConstMetric(m.untracked, prometheus.CounterValue, float64(untracked))
}
