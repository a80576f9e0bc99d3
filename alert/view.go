package alert

import (
	"net/http"
	"slices"
	"strings"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/flow/latest"
)

// View is the registry and the recent transitions as one saved state
// holds them, read only: what an instance that does not alert itself
// shows of the one that does (its /v1/devices, /v1/alerts and
// /v1/latest). The zero View is an empty registry.
type View struct {
	devices map[string]*Device
	recent  []notify.Notification
	pending int
}

// ParseView reads a state the Service saved through its Store, one
// value per part; nothing is an empty registry. A part that cannot be
// read is an error, and the view of the others is returned with it.
func ParseView(parts [][]byte, where string) (*View, error) {
	st, err := decodeParts(parts, where)
	v := &View{devices: make(map[string]*Device, len(st.Devices)), recent: st.Recent, pending: len(st.Outbox)}
	for _, d := range st.Devices {
		v.devices[d.Name] = d
	}
	return v, err
}

// Devices lists the devices f selects, by name.
func (v *View) Devices(f DeviceFilter) []DeviceView { return listDevices(v.devices, f) }

// Alerts lists the alerts firing and the recent transitions.
func (v *View) Alerts() Alerts { return listAlerts(v.devices, v.recent) }

// Len is how many devices the view holds.
func (v *View) Len() int { return len(v.devices) }

// Pending is how many notifications the state holds unsent (an entry per
// notifier).
func (v *View) Pending() int { return v.pending }

// Latest is the newest reading of every device and measurement f passes,
// sorted by device, then measurement, as /v1/latest lists them.
func (v *View) Latest(f latest.Filter) []*latest.Reading {
	return latestOf(v.devices, f)
}

// Latest is View.Latest of the live registry.
func (s *Service) Latest(f latest.Filter) []*latest.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	return latestOf(s.eng.devices, f)
}

func latestOf(devices map[string]*Device, f latest.Filter) []*latest.Reading {
	out := []*latest.Reading{}
	for _, d := range devices {
		if f.Device != "" && f.Device != d.Name {
			continue
		}
		for m, l := range d.Latest {
			r := &latest.Reading{Device: d.Name, Measurement: m, Fields: make(map[string]any, len(l.Fields)), Time: l.Time, Received: l.Received}
			if !f.Match(r) {
				continue
			}
			for k, x := range l.Fields {
				r.Fields[k] = x
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *latest.Reading) int {
		if c := strings.Compare(a.Device, b.Device); c != 0 {
			return c
		}
		return strings.Compare(a.Measurement, b.Measurement)
	})
	return out
}

// LatestRoute adds GET /v1/latest (?device=, ?measurement=) answered from
// latest, through wrap (nil for none), for an instance whose readings'
// newest values are those of the registry.
func LatestRoute(mux *http.ServeMux, wrap func(endpoint string, h http.Handler) http.Handler, latestOf func(latest.Filter) []*latest.Reading) {
	if wrap == nil {
		wrap = func(_ string, h http.Handler) http.Handler { return h }
	}
	mux.Handle("GET /v1/latest", wrap("/v1/latest", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		writeJSON(w, struct {
			Readings []*latest.Reading `json:"readings"`
		}{latestOf(latest.Filter{Device: q.Get("device"), Measurement: q.Get("measurement")})})
	})))
}
