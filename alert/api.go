package alert

import (
	"encoding/json"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/internal/httpjson"
)

// DeviceFilter selects devices for /v1/devices; empty fields match all.
type DeviceFilter struct {
	Device string // a pattern: greenhouse-*
	State  string // online | silent | offline
	Rule   string // devices on which this rule fires
}

// DeviceView is one device as /v1/devices lists it.
type DeviceView struct {
	Device      string             `json:"device"`
	State       string             `json:"state"`
	FirstSeen   time.Time          `json:"first_seen"`
	LastSeen    time.Time          `json:"last_seen"`
	LastReading *time.Time         `json:"last_reading,omitempty"`
	Presence    string             `json:"presence,omitempty"`
	Firing      []string           `json:"firing"`
	Latest      map[string]*Latest `json:"latest"`
}

// Devices lists the devices f selects, by name.
func (s *Service) Devices(f DeviceFilter) []DeviceView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return listDevices(s.eng.devices, f)
}

// listDevices lists the devices of a registry that f selects, by name.
func listDevices(devices map[string]*Device, f DeviceFilter) []DeviceView {
	out := []DeviceView{}
	for _, d := range devices {
		if f.Device != "" {
			if ok, _ := path.Match(f.Device, d.Name); !ok {
				continue
			}
		}
		st := d.State()
		if (f.State != "" && f.State != st) || (f.Rule != "" && !d.firing(f.Rule)) {
			continue
		}
		v := DeviceView{Device: d.Name, State: st, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, Presence: d.Presence,
			Firing: []string{}, Latest: map[string]*Latest{}}
		if !d.LastReading.IsZero() {
			lr := d.LastReading
			v.LastReading = &lr
		}
		for rule, a := range d.Alerts {
			if a.Firing {
				v.Firing = append(v.Firing, rule)
			}
		}
		slices.Sort(v.Firing)
		for m, l := range d.Latest {
			v.Latest[m] = &Latest{Time: l.Time, Fields: maps.Clone(l.Fields)}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b DeviceView) int { return strings.Compare(a.Device, b.Device) })
	return out
}

// Active is one alert firing now.
type Active struct {
	Device string    `json:"device"`
	Rule   string    `json:"rule"`
	Since  time.Time `json:"since"`
	Value  *float64  `json:"value,omitempty"`
}

// Alerts is what /v1/alerts answers.
type Alerts struct {
	Active []Active              `json:"active"`
	Recent []notify.Notification `json:"recent"` // newest last
}

// Alerts lists the alerts firing now and the recent transitions.
func (s *Service) Alerts() Alerts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return listAlerts(s.eng.devices, s.recent)
}

// listAlerts lists the alerts firing in a registry and the recent
// transitions.
func listAlerts(devices map[string]*Device, recent []notify.Notification) Alerts {
	out := Alerts{Active: []Active{}, Recent: slices.Clone(recent)}
	if out.Recent == nil {
		out.Recent = []notify.Notification{}
	}
	for _, d := range devices {
		for rule, a := range d.Alerts {
			if !a.Firing {
				continue
			}
			act := Active{Device: d.Name, Rule: rule, Since: a.Since.UTC()}
			if a.Value != nil && rule != RuleSilent && rule != RuleOffline {
				v := *a.Value
				act.Value = &v
			}
			out.Active = append(out.Active, act)
		}
	}
	slices.SortFunc(out.Active, func(a, b Active) int {
		if c := strings.Compare(a.Device, b.Device); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return out
}

// Routes adds GET /v1/devices (?device=pattern, ?state=, ?rule=) and GET
// /v1/alerts to mux, each handler passed through wrap (the server's login
// for read endpoints; nil for none).
func (s *Service) Routes(mux *http.ServeMux, wrap func(endpoint string, h http.Handler) http.Handler) {
	Routes(mux, wrap, s)
}

// Lister is what /v1/devices and /v1/alerts answer from: the Service of
// the instance that alerts, or a View of what it saved.
type Lister interface {
	Devices(f DeviceFilter) []DeviceView
	Alerts() Alerts
}

// Routes adds GET /v1/devices and GET /v1/alerts answered from l to mux,
// each handler passed through wrap (nil for none).
func Routes(mux *http.ServeMux, wrap func(endpoint string, h http.Handler) http.Handler, l Lister) {
	if wrap == nil {
		wrap = func(_ string, h http.Handler) http.Handler { return h }
	}
	mux.Handle("GET /v1/devices", wrap("/v1/devices", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveDevices(w, r, l) })))
	mux.Handle("GET /v1/alerts", wrap("/v1/alerts", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, l.Alerts()) })))
}

func serveDevices(w http.ResponseWriter, r *http.Request, s Lister) {
	q := r.URL.Query()
	f := DeviceFilter{Device: q.Get("device"), State: q.Get("state"), Rule: q.Get("rule")}
	if _, err := path.Match(f.Device, ""); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "device: not a pattern: "+err.Error())
		return
	}
	if f.State != "" && f.State != StateOnline && f.State != StateSilent && f.State != StateOffline {
		httpjson.Error(w, http.StatusBadRequest, "state: want online, silent or offline")
		return
	}
	writeJSON(w, struct {
		Devices []DeviceView `json:"devices"`
	}{s.Devices(f)})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
