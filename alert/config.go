package alert

import (
	"fmt"
	"path"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/internal/configfile"
)

// Config is the `alerts:` section of the server's configuration.
type Config struct {
	// SilentAfter is how long a device may go without a reading before it
	// is silent; 0 disables silence alerts.
	SilentAfter time.Duration `yaml:"silent_after"`
	// CheckInterval is how often silence and rule durations are checked.
	CheckInterval time.Duration `yaml:"check_interval"`
	// MaxDevices bounds the registry; devices beyond it are counted, not
	// tracked.
	MaxDevices int `yaml:"max_devices"`
	// MaxMeasurements bounds the latest readings kept per device.
	MaxMeasurements int `yaml:"max_measurements"`
	// History is how many recent transitions /v1/alerts lists.
	History int `yaml:"history"`
	// RetryMax caps the wait between attempts at a notification.
	RetryMax time.Duration `yaml:"retry_max"`
	// MaxPending bounds the notifications waiting for one notifier (a
	// receiver gone for good must not grow the state file without end);
	// past it the oldest is dropped, logged and counted.
	MaxPending int `yaml:"max_pending"`
	// ForgetAfter forgets a device that has been offline or silent, with
	// no message at all, for this long: it leaves the registry and
	// /v1/latest as DELETE /v1/devices/{device} would have it (its data
	// stays). 0 never forgets.
	ForgetAfter time.Duration   `yaml:"forget_after"`
	Rules       []Rule          `yaml:"rules"`
	Notify      []notify.Config `yaml:"notify"`
}

// Rule is a threshold on one field of one measurement.
type Rule struct {
	Name        string `yaml:"name"`
	Measurement string `yaml:"measurement"`
	Field       string `yaml:"field,omitempty"` // "value" when empty
	// Above and Below are the lines; a rule has one or both, and fires
	// while the value is beyond either.
	Above *float64 `yaml:"above,omitempty"`
	Below *float64 `yaml:"below,omitempty"`
	// For is how long the value must stay beyond the line before the rule
	// fires.
	For time.Duration `yaml:"for,omitempty"`
	// Hysteresis is how far back over the line the value must come before
	// a firing rule resolves, so that a value hovering at the line does
	// not flap.
	Hysteresis float64 `yaml:"hysteresis,omitempty"`
	// Devices limits the rule to devices matching one of these patterns
	// (path.Match: greenhouse-*); every device when empty.
	Devices []string `yaml:"devices,omitempty"`
}

// Built-in rule names.
const (
	RuleSilent  = "silent"
	RuleOffline = "offline"
)

// DefaultConfig tracks devices and calls one silent after 10 minutes; no
// threshold rules and no notifiers until configured.
func DefaultConfig() Config {
	return Config{
		SilentAfter:     10 * time.Minute,
		CheckInterval:   time.Second,
		MaxDevices:      100_000,
		MaxMeasurements: 64,
		History:         200,
		RetryMax:        5 * time.Minute,
		MaxPending:      10_000,
		Rules:           []Rule{},
		Notify:          []notify.Config{},
	}
}

// Validate reports every problem of c to v, keys relative to v's section.
// Measurement names are not checked against anything: a rule may wait for
// a measurement no device sends yet.
func (c *Config) Validate(v *configfile.Validator) {
	if c.SilentAfter != 0 {
		v.DurationBetween("silent_after", c.SilentAfter, 100*time.Millisecond, 30*24*time.Hour)
	}
	v.DurationBetween("check_interval", c.CheckInterval, 10*time.Millisecond, time.Hour)
	v.Between("max_devices", c.MaxDevices, 1, 10_000_000)
	v.Between("max_measurements", c.MaxMeasurements, 1, 10_000)
	v.Between("history", c.History, 0, 100_000)
	v.DurationBetween("retry_max", c.RetryMax, time.Second, 24*time.Hour)
	v.Between("max_pending", c.MaxPending, 1, 1_000_000)
	if c.ForgetAfter != 0 {
		v.DurationBetween("forget_after", c.ForgetAfter, time.Second, 10*365*24*time.Hour)
	}
	names := map[string]bool{RuleSilent: true, RuleOffline: true}
	for i := range c.Rules {
		r := &c.Rules[i]
		rv := v.Section(fmt.Sprintf("rules[%d]", i))
		r.validate(rv)
		if names[r.Name] {
			rv.Add("name", "%q is taken (silent and offline are built in; names are unique)", r.Name)
		}
		names[r.Name] = true
	}
	ids := map[string]bool{}
	for i := range c.Notify {
		n := &c.Notify[i]
		nv := v.Section(fmt.Sprintf("notify[%d]", i))
		n.Validate(nv)
		if ids[n.ID()] {
			nv.Add("name", "a second %s notifier needs a name of its own", n.ID())
		}
		ids[n.ID()] = true
	}
}

func (r *Rule) validate(v *configfile.Validator) {
	if !configfile.IsName(r.Name) {
		v.Add("name", "%q: want a name (letters, digits, - and _)", r.Name)
	}
	v.NonEmpty("measurement", r.Measurement)
	if r.Above == nil && r.Below == nil {
		v.Add("", "rule %q has neither above nor below: it could never fire", r.Name)
	}
	if r.Above != nil && r.Below != nil && *r.Below >= *r.Above {
		v.Add("below", "%v is not below above (%v): the rule would always fire", *r.Below, *r.Above)
	}
	if r.For < 0 {
		v.Add("for", "%v is negative", r.For)
	}
	if r.Hysteresis < 0 {
		v.Add("hysteresis", "%v is negative", r.Hysteresis)
	}
	for j, p := range r.Devices {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			v.Add(fmt.Sprintf("devices[%d]", j), "%q is not a pattern (*, ?, [a-z])", p)
		}
	}
}

// field is the rule's field.
func (r *Rule) field() string {
	if r.Field == "" {
		return "value"
	}
	return r.Field
}

// covers reports whether the rule applies to device.
func (r *Rule) covers(device string) bool {
	if len(r.Devices) == 0 {
		return true
	}
	for _, p := range r.Devices {
		if ok, _ := path.Match(p, device); ok {
			return true
		}
	}
	return false
}

// beyond reports whether v is past a line of the rule.
func (r *Rule) beyond(v float64) bool {
	return (r.Above != nil && v > *r.Above) || (r.Below != nil && v < *r.Below)
}

// clear reports whether v is back inside the lines by the hysteresis.
func (r *Rule) clear(v float64) bool {
	return (r.Above == nil || v <= *r.Above-r.Hysteresis) && (r.Below == nil || v >= *r.Below+r.Hysteresis)
}
