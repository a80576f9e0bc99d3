package mapping

import (
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // mapping.timezone must work on hosts without a zoneinfo database
)

// preset is a layout shipped with mqflux: ordinary rules and status rules,
// nothing a configuration could not say itself. bridge/mapping/README.md
// documents each with its topics, what they become and what is ignored.
type preset struct {
	topics   []TopicRule
	statuses []StatusRule
}

// presets are the shipped layouts by name. Within a preset, ignored topics
// come first so that a broader reading template cannot take them.
func presets() map[string]preset {
	return map[string]preset{
		"zigbee2mqtt": {
			topics: []TopicRule{
				{Template: "zigbee2mqtt/bridge/#", Ignore: true},
				{Template: "zigbee2mqtt/{device+}/set", Ignore: true},
				{Template: "zigbee2mqtt/{device+}/set/+", Ignore: true},
				{Template: "zigbee2mqtt/{device+}/get", Ignore: true},
				{Template: "zigbee2mqtt/{device+}/get/+", Ignore: true},
				{Template: "zigbee2mqtt/{device+}", Measurement: "zigbee2mqtt",
					Objects: Flatten, Arrays: Index, Nulls: Skip},
			},
			statuses: []StatusRule{{Template: "zigbee2mqtt/{device+}/availability", Key: "state"}},
		},
		"tasmota": {
			topics: []TopicRule{
				{Template: "cmnd/#", Ignore: true},
				{Template: "stat/#", Ignore: true},
				{Template: "tele/{device}/SENSOR", Measurement: "tasmota",
					Objects: Points, ObjectTag: "sensor", Arrays: Index, Nulls: Skip, TimeKey: "Time"},
				{Template: "tele/{device}/STATE", Measurement: "tasmota",
					Objects: Flatten, Arrays: Index, Nulls: Skip, TimeKey: "Time"},
				{Template: "tele/{device}/+", Ignore: true},
			},
			statuses: []StatusRule{{Template: "tele/{device}/LWT", Online: []string{"Online"}, Offline: []string{"Offline"}}},
		},
		"esphome": {
			topics: []TopicRule{
				{Template: "{device}/+/+/command", Ignore: true},
				{Template: "{device}/debug", Ignore: true},
				{Template: "{device}/{measurement}/{field}/state", Format: FormatText},
			},
			statuses: []StatusRule{{Template: "{device}/status"}},
		},
		"shelly": {
			topics: []TopicRule{
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
			statuses: []StatusRule{
				{Template: "shellies/{device}/online", Online: []string{"true"}, Offline: []string{"false"}},
				{Template: "{device}/online", Online: []string{"true"}, Offline: []string{"false"}},
			},
		},
	}
}

// PresetNames lists the presets mapping.presets accepts.
func PresetNames() []string {
	var names []string
	for n := range presets() {
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
	all := presets()
	for i, name := range cfg.Presets {
		p, ok := all[name]
		if !ok {
			return nil, nil, fmt.Errorf("mapping.presets[%d]: %q is not one of %v", i, name, PresetNames())
		}
		if slices.Contains(cfg.Presets[:i], name) {
			return nil, nil, fmt.Errorf("mapping.presets[%d]: %q is named twice", i, name)
		}
		topics = append(topics, p.topics...)
		statuses = append(statuses, p.statuses...)
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
