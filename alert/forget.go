package alert

import (
	"slices"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
)

// ReasonForgotten is the Reason of a resolution that came because its
// device was forgotten, not because the device recovered.
const ReasonForgotten = "forgotten"

// Forgotten is what forgetting a device did.
type Forgotten struct {
	Device string `json:"device"`
	// Known is false when the registry did not hold the device.
	Known bool `json:"known"`
	// Resolved are the rules that were firing and are now resolved with
	// reason "forgotten", sorted.
	Resolved []string `json:"resolved"`
}

// Forget removes device from the registry at now: each of its firing
// alerts resolves once, with reason "forgotten" and by (who or what
// forgot it) in the message, and the device with all its rule state is
// gone. A reading from it afterwards brings it back as a new device.
func (e *Engine) Forget(now time.Time, device, by string) (Forgotten, []notify.Notification) {
	out := Forgotten{Device: device, Resolved: []string{}}
	d := e.devices[device]
	if d == nil {
		return out, nil
	}
	out.Known = true
	var ns []notify.Notification
	rules := make([]string, 0, len(d.Alerts))
	for rule, a := range d.Alerts {
		if a.Firing {
			rules = append(rules, rule)
		}
	}
	// Sorted, so that the notifications go out in the same order each time.
	slices.Sort(rules)
	for _, rule := range rules {
		n := resolve(now, d, rule, d.Alerts[rule], nil, "%s forgotten by %s: its %s alert ends", d.Name, by, rule)
		n.Reason = ReasonForgotten
		ns = append(ns, n)
	}
	out.Resolved = rules
	delete(e.devices, device)
	return out, ns
}

// Expire forgets, at now, every device that has been offline or silent
// with no message at all for alerts.forget_after (time before this engine
// started does not count, as for silence), and returns their names and
// the resolutions of their alerts.
func (e *Engine) Expire(now time.Time) ([]string, []notify.Notification) {
	if e.cfg.ForgetAfter <= 0 {
		return nil, nil
	}
	var names []string
	for name, d := range e.devices {
		if d.State() == StateOnline {
			continue
		}
		quiet := d.LastSeen
		if e.started.After(quiet) {
			quiet = e.started
		}
		if now.Sub(quiet) >= e.cfg.ForgetAfter {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var ns []notify.Notification
	for _, name := range names {
		_, more := e.Forget(now, name, "alerts.forget_after ("+e.cfg.ForgetAfter.String()+" offline or silent)")
		ns = append(ns, more...)
	}
	return names, ns
}

// Forget removes device from the registry and its alert state, resolving
// its firing alerts once with reason "forgotten" (the notifiers are told
// as of any resolution). by names who asked, for the message and the log.
func (s *Service) Forget(device, by string) Forgotten {
	s.mu.Lock()
	f, ns := s.eng.Forget(s.o.Now(), device, by)
	s.enqueue(ns)
	if f.Known {
		s.touched = true
		s.markDirty()
	}
	s.mu.Unlock()
	return f
}
