package alert

import (
	"strings"
	"time"

	"github.com/mqflux/mqflux/flow/point"
)

// Device states.
const (
	StateOnline  = "online"
	StateSilent  = "silent"
	StateOffline = "offline"
)

// Device is what the registry knows of one device. It is also how the
// registry is saved under data_dir and listed by /v1/devices.
type Device struct {
	Name      string    `json:"device"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"` // any message, presence included
	// LastReading is the last reading that was not a presence message:
	// silence is measured from it.
	LastReading time.Time `json:"last_reading,omitzero"`
	// Presence is what the device's status topic last said: online,
	// offline, or "" when it never said.
	Presence   string    `json:"presence,omitempty"`
	PresenceAt time.Time `json:"presence_at,omitzero"`
	// Latest is the newest reading of each measurement, up to
	// alerts.max_measurements of them.
	Latest map[string]*Latest `json:"latest"`
	// Alerts is the state of every rule that has seen this device.
	Alerts map[string]*Alert `json:"alerts,omitempty"`
}

// Latest is one measurement's newest reading.
type Latest struct {
	Time   time.Time      `json:"time"`
	Fields map[string]any `json:"fields"` // float64, int64, uint64, bool or string
	// Received is when mqflux received it.
	Received time.Time `json:"received,omitzero"`
}

// Alert is one rule's state for one device.
type Alert struct {
	Firing bool      `json:"firing"`
	Since  time.Time `json:"since,omitzero"` // when it fired
	// Pending is when a threshold was first crossed, while the rule
	// waits out its `for` duration.
	Pending time.Time `json:"pending,omitzero"`
	Value   *float64  `json:"value,omitempty"` // the last value a threshold rule saw
}

// State is the device's state: offline when its status topic says so,
// silent while its silence alert fires, online otherwise.
func (d *Device) State() string {
	switch {
	case d.Presence == StateOffline:
		return StateOffline
	case d.firing(RuleSilent):
		return StateSilent
	}
	return StateOnline
}

func (d *Device) firing(rule string) bool {
	a := d.Alerts[rule]
	return a != nil && a.Firing
}

func (d *Device) alert(rule string) *Alert {
	a := d.Alerts[rule]
	if a == nil {
		if d.Alerts == nil {
			d.Alerts = map[string]*Alert{}
		}
		a = &Alert{}
		d.Alerts[rule] = a
	}
	return a
}

// remember keeps p as the newest reading of its measurement, unless the
// device already has max other measurements.
func (d *Device) remember(p *point.Point, received time.Time, max int) {
	l := d.Latest[p.Measurement]
	if l == nil {
		if len(d.Latest) >= max {
			return
		}
		if d.Latest == nil {
			d.Latest = map[string]*Latest{}
		}
		l = &Latest{Fields: make(map[string]any, len(p.Fields))}
		d.Latest[strings.Clone(p.Measurement)] = l
	} else if p.At().Before(l.Time) {
		return // a replayed older reading does not hide a newer one
	} else {
		clear(l.Fields)
	}
	l.Time, l.Received = p.At(), received
	for i := range p.Fields {
		f := &p.Fields[i]
		v := f.Value()
		if f.Kind == point.String {
			v = strings.Clone(f.S)
		}
		l.Fields[strings.Clone(f.Key)] = v
	}
}

// number is a field's value as a float, for a threshold; ok is false for
// strings.
func number(f *point.Field) (v float64, ok bool) {
	switch f.Kind {
	case point.Float:
		return f.F, true
	case point.Int:
		return float64(int64(f.N)), true
	case point.Uint:
		return float64(f.N), true
	case point.Bool:
		if f.B {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
