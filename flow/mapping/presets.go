package mapping

import (
	"fmt"
	"slices"
	"sync"
	"time"
	_ "time/tzdata" // mapping.timezone must work on hosts without a zoneinfo database
)

// Preset is a layout mapping.presets can name: ordinary rules and status
// rules, nothing a configuration could not say itself. The shipped ones are
// registered below; flow/mapping/README.md documents each with its
// topics, what they become and what is ignored. Within a preset, ignored
// topics come first so that a broader reading template cannot take them.
type Preset struct {
	Topics   []TopicRule
	Statuses []StatusRule
}

// presetRegistry holds the presets by name, filled by RegisterPreset from
// init functions and only read afterwards.
var presetRegistry = struct {
	sync.RWMutex
	m map[string]Preset
}{m: map[string]Preset{}}

// RegisterPreset makes a preset known under name, from an init function.
// It panics when name is empty or taken, or the preset has no topics: two
// presets under one name are a programming error.
func RegisterPreset(name string, p Preset) {
	if name == "" || len(p.Topics) == 0 {
		panic(fmt.Sprintf("register preset %q: a preset needs a name and topics", name))
	}
	presetRegistry.Lock()
	defer presetRegistry.Unlock()
	if _, dup := presetRegistry.m[name]; dup {
		panic(fmt.Sprintf("register preset %q: registered twice", name))
	}
	presetRegistry.m[name] = p
}

func lookupPreset(name string) (Preset, bool) {
	presetRegistry.RLock()
	defer presetRegistry.RUnlock()
	p, ok := presetRegistry.m[name]
	return p, ok
}

func init() {
	for name, p := range shippedPresets() {
		RegisterPreset(name, p)
	}
}

// shippedPresets are the layouts shipped with mqflux, by name.
func shippedPresets() map[string]Preset {
	return map[string]Preset{
		"zigbee2mqtt": {
			Topics: []TopicRule{
				{Template: "zigbee2mqtt/bridge/#", Ignore: true},
				{Template: "zigbee2mqtt/{device+}/set", Ignore: true},
				{Template: "zigbee2mqtt/{device+}/set/+", Ignore: true},
				{Template: "zigbee2mqtt/{device+}/get", Ignore: true},
				{Template: "zigbee2mqtt/{device+}/get/+", Ignore: true},
				{Template: "zigbee2mqtt/{device+}", Measurement: "zigbee2mqtt",
					Objects: Flatten, Arrays: Index, Nulls: Skip},
			},
			Statuses: []StatusRule{{Template: "zigbee2mqtt/{device+}/availability", Key: "state"}},
		},
		"tasmota": {
			Topics: []TopicRule{
				{Template: "cmnd/#", Ignore: true},
				{Template: "stat/#", Ignore: true},
				{Template: "tele/{device}/SENSOR", Measurement: "tasmota",
					Objects: Points, ObjectTag: "sensor", Arrays: Index, Nulls: Skip, TimeKey: "Time"},
				{Template: "tele/{device}/STATE", Measurement: "tasmota",
					Objects: Flatten, Arrays: Index, Nulls: Skip, TimeKey: "Time"},
				{Template: "tele/{device}/+", Ignore: true},
			},
			Statuses: []StatusRule{{Template: "tele/{device}/LWT", Online: []string{"Online"}, Offline: []string{"Offline"}}},
		},
		"esphome": {
			Topics: []TopicRule{
				{Template: "{device}/+/+/command", Ignore: true},
				{Template: "{device}/debug", Ignore: true},
				{Template: "{device}/{measurement}/{field}/state", Format: FormatText},
			},
			Statuses: []StatusRule{{Template: "{device}/status"}},
		},
		"shelly": {
			Topics: []TopicRule{
				// Gen1: shellies/<id>/...
				{Template: "shellies/announce", Ignore: true},
				{Template: "shellies/command", Ignore: true},
				{Template: "shellies/{device}/announce", Ignore: true},
				{Template: "shellies/{device}/info", Ignore: true},
				{Template: "shellies/{device}/command", Ignore: true},
				{Template: "shellies/{device}/+/+/command", Ignore: true},
				{Template: "shellies/{device}/+/+/command/+", Ignore: true},
				{Template: "shellies/{device}/{measurement}/{channel}/{field}", Format: FormatText},
				{Template: "shellies/{device}/{measurement}/{channel}", Format: FormatText},
				{Template: "shellies/{device}/{measurement}", Format: FormatText},
				// Gen2: <id>/events/rpc, <id>/status/<component>, <id>/online
				{Template: "{device}/rpc", Ignore: true},
				{Template: "{device}/events/rpc", Measurement: "shelly", Root: "params", TimeKey: "ts",
					TimePrecision: "s", Objects: Points, ObjectTag: "component", Arrays: Index, Nulls: Skip},
				{Template: "{device}/status/{component}", Measurement: "shelly",
					Objects: Flatten, Arrays: Index, Nulls: Skip},
			},
			Statuses: []StatusRule{
				{Template: "shellies/{device}/online", Online: []string{"true"}, Offline: []string{"false"}},
				{Template: "{device}/online", Online: []string{"true"}, Offline: []string{"false"}},
			},
		},
	}
}

// PresetNames lists the presets mapping.presets accepts.
func PresetNames() []string {
	presetRegistry.RLock()
	defer presetRegistry.RUnlock()
	var names []string
	for n := range presetRegistry.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// withPresets is the configured topics and status rules followed by those
// of each preset, in the order mapping.presets names them.
func withPresets(cfg Config) ([]TopicRule, []StatusRule, error) {
	topics := slices.Clone(cfg.Topics)
	statuses := statusRules(cfg)
	for i, name := range cfg.Presets {
		p, ok := lookupPreset(name)
		if !ok {
			return nil, nil, fmt.Errorf("mapping.presets[%d]: %q is not one of %v", i, name, PresetNames())
		}
		if slices.Contains(cfg.Presets[:i], name) {
			return nil, nil, fmt.Errorf("mapping.presets[%d]: %q is named twice", i, name)
		}
		topics = append(topics, p.Topics...)
		statuses = append(statuses, p.Statuses...)
	}
	if cfg.LogsTemplate != "" {
		topics = append(topics, TopicRule{Template: cfg.LogsTemplate, Format: FormatAuto, Measurement: LogsMeasurement, Tags: map[string]string{}})
	}
	return topics, statuses, nil
}

// loadZone is the location of mapping.timezone; "" is UTC.
func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a time zone: %w", name, err)
	}
	return loc, nil
}
