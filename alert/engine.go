package alert

import (
	"fmt"
	"strings"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/point"
)

// Engine is the registry and the rules: it is told of every reading and
// asked to check the clock, and answers with the transitions, each a
// Notification to send. It does no locking and reads no clock: its owner
// serialises the calls and passes the time, so tests drive it with a fake
// clock.
type Engine struct {
	cfg     Config
	started time.Time // silence is not measured from before this
	devices map[string]*Device
	// untracked counts readings of devices past max_devices.
	untracked int64
}

// NewEngine starts an engine at started with the devices a previous run
// saved (nil for none).
func NewEngine(cfg Config, started time.Time, devices map[string]*Device) *Engine {
	if devices == nil {
		devices = map[string]*Device{}
	}
	e := &Engine{cfg: cfg, started: started, devices: devices}
	e.forgetRetired()
	return e
}

// forgetRetired drops the state of rules a previous run had and this one
// does not (a rule removed, silence disabled): nothing could ever resolve
// them. No one is told; the configuration changed, not the device.
func (e *Engine) forgetRetired() {
	live := map[string]bool{RuleOffline: true, RuleSilent: e.cfg.SilentAfter > 0}
	for i := range e.cfg.Rules {
		live[e.cfg.Rules[i].Name] = true
	}
	for _, d := range e.devices {
		for rule := range d.Alerts {
			if !live[rule] {
				delete(d.Alerts, rule)
			}
		}
	}
}

// Observe updates the registry with one reading received at now and
// returns the transitions it causes.
func (e *Engine) Observe(now time.Time, device string, p *point.Point) []notify.Notification {
	if device == "" {
		return nil
	}
	d := e.devices[device]
	if d == nil {
		if len(e.devices) >= e.cfg.MaxDevices {
			e.untracked++
			return nil
		}
		d = &Device{Name: strings.Clone(device), FirstSeen: now}
		e.devices[d.Name] = d
	}
	d.LastSeen = now
	if p.Measurement == mapping.StatusMeasurement {
		return e.presence(now, d, p)
	}
	d.LastReading = now
	d.remember(p, now, e.cfg.MaxMeasurements)
	var out []notify.Notification
	if a := d.Alerts[RuleSilent]; a != nil && a.Firing {
		out = append(out, resolve(now, d, RuleSilent, a, nil, "%s publishes again", d.Name))
	}
	for i := range e.cfg.Rules {
		r := &e.cfg.Rules[i]
		if r.Measurement != p.Measurement || !r.covers(d.Name) {
			continue
		}
		f := p.Field(r.field())
		if f == nil {
			continue
		}
		if v, ok := number(f); ok {
			out = append(out, e.threshold(now, d, r, v)...)
		}
	}
	return out
}

// presence handles a status message: offline fires, online resolves.
func (e *Engine) presence(now time.Time, d *Device, p *point.Point) []notify.Notification {
	f := p.Field("online")
	if f == nil || f.Kind != point.Bool {
		return nil
	}
	d.PresenceAt = now
	a := d.alert(RuleOffline)
	if !f.B {
		d.Presence = StateOffline
		if !a.Firing {
			return []notify.Notification{fire(now, d, RuleOffline, a, now, nil, "%s went offline (its status topic says so)", d.Name)}
		}
		return nil
	}
	d.Presence = StateOnline
	if a.Firing {
		return []notify.Notification{resolve(now, d, RuleOffline, a, nil, "%s is back online", d.Name)}
	}
	return nil
}

// threshold moves one rule of one device on a new value.
func (e *Engine) threshold(now time.Time, d *Device, r *Rule, v float64) []notify.Notification {
	a := d.alert(r.Name)
	a.Value = &v
	if a.Firing {
		if r.clear(v) {
			n := resolve(now, d, r.Name, a, &v, "%s: %s %s is %v, back within %s", d.Name, r.Measurement, r.field(), v, r.lines())
			n.Measurement, n.Field = r.Measurement, r.field()
			return []notify.Notification{n}
		}
		return nil
	}
	if !r.beyond(v) {
		a.Pending = time.Time{}
		return nil
	}
	if a.Pending.IsZero() {
		a.Pending = now
	}
	return e.due(now, d, r, a)
}

// due fires a threshold rule whose value has been beyond the line for
// its whole `for` duration.
func (e *Engine) due(now time.Time, d *Device, r *Rule, a *Alert) []notify.Notification {
	if a.Firing || a.Pending.IsZero() || now.Sub(a.Pending) < r.For {
		return nil
	}
	v := *a.Value
	n := fire(now, d, r.Name, a, a.Pending, &v, "%s: %s %s is %v, beyond %s since %s", d.Name, r.Measurement, r.field(), v, r.lines(), a.Pending.UTC().Format(time.RFC3339))
	n.Measurement, n.Field = r.Measurement, r.field()
	a.Pending = time.Time{}
	return []notify.Notification{n}
}

// Check fires what the passing of time alone decides: silence, and
// threshold rules whose `for` has run out since the last reading.
func (e *Engine) Check(now time.Time) []notify.Notification {
	var out []notify.Notification
	for _, d := range e.devices {
		out = append(out, e.silence(now, d)...)
		for i := range e.cfg.Rules {
			r := &e.cfg.Rules[i]
			if a := d.Alerts[r.Name]; a != nil {
				out = append(out, e.due(now, d, r, a)...)
			}
		}
	}
	return out
}

// silence fires for a device heard from neither by a reading nor by its
// coming online for silent_after. Time before this engine started does
// not count: a restart gives every device silent_after again, rather than
// finding the whole fleet quiet. A device that said it is offline is
// offline, not also silent.
func (e *Engine) silence(now time.Time, d *Device) []notify.Notification {
	if e.cfg.SilentAfter <= 0 || d.Presence == StateOffline || d.firing(RuleSilent) {
		return nil
	}
	base := d.LastReading
	if d.Presence == StateOnline && d.PresenceAt.After(base) {
		base = d.PresenceAt
	}
	if e.started.After(base) {
		base = e.started
	}
	if now.Sub(base) < e.cfg.SilentAfter {
		return nil
	}
	last := "never"
	if !d.LastReading.IsZero() {
		last = "since " + d.LastReading.UTC().Format(time.RFC3339)
	}
	return []notify.Notification{fire(now, d, RuleSilent, d.alert(RuleSilent), base, nil, "%s is silent: no reading %s (silent_after %v)", d.Name, last, e.cfg.SilentAfter)}
}

// fire marks a as firing since since, seen at now, and describes the
// transition.
func fire(now time.Time, d *Device, rule string, a *Alert, since time.Time, v *float64, format string, args ...any) notify.Notification {
	a.Firing, a.Since = true, since
	return notify.Notification{
		ID:     transitionID(d.Name, rule, notify.Firing, since),
		Device: d.Name, Rule: rule, State: notify.Firing, Since: since.UTC(), Time: now.UTC(), Value: v,
		Message: fmt.Sprintf(format, args...),
	}
}

// resolve marks a as no longer firing, at now.
func resolve(now time.Time, d *Device, rule string, a *Alert, v *float64, format string, args ...any) notify.Notification {
	started := a.Since.UTC()
	a.Firing, a.Since, a.Pending = false, time.Time{}, time.Time{}
	return notify.Notification{
		ID:     transitionID(d.Name, rule, notify.Resolved, now),
		Device: d.Name, Rule: rule, State: notify.Resolved, Since: now.UTC(), Time: now.UTC(), Value: v, Started: &started,
		Message: fmt.Sprintf(format, args...),
	}
}

// transitionID names one transition: the same for every attempt at
// sending it, different for the next episode of the same alert.
func transitionID(device, rule, state string, at time.Time) string {
	return fmt.Sprintf("%s:%s:%s:%d", device, rule, state, at.UnixNano())
}

// lines describes a rule's thresholds: "above 90", "below 0", "0..90".
func (r *Rule) lines() string {
	switch {
	case r.Above != nil && r.Below != nil:
		return fmt.Sprintf("%v..%v", *r.Below, *r.Above)
	case r.Above != nil:
		return fmt.Sprintf("the limit %v", *r.Above)
	}
	return fmt.Sprintf("the limit %v", *r.Below)
}

// Devices is the registry, for saving and listing; the caller must not
// change it.
func (e *Engine) Devices() map[string]*Device { return e.devices }

// Untracked is how many readings came from devices past max_devices.
func (e *Engine) Untracked() int64 { return e.untracked }
