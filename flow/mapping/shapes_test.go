package mapping

import (
	"strings"
	"testing"
)

// shapesConfig has one rule for each of the options for nested values,
// nulls, the time key, the root object, text payloads and ignored topics.
func shapesConfig() Config {
	c := DefaultConfig()
	c.Timezone = "Europe/Berlin"
	c.Topics = []TopicRule{
		{Template: "flat/{device}/set", Ignore: true},
		{Template: "flat/{device}", Measurement: "m", Objects: Flatten, Arrays: Index, Nulls: Skip},
		{Template: "dot/{device}", Measurement: "m", Objects: Flatten, Separator: "."},
		{Template: "pts/{device}", Measurement: "m", Objects: Points, TimeKey: "Time"},
		{Template: "root/{device}", Measurement: "m", Root: "params", TimeKey: "ts", Objects: Points, ObjectTag: "component"},
		{Template: "text/{device}/{field}", Measurement: "m", Format: FormatText},
		{Template: "z/{device+}", Measurement: "z"},
	}
	c.StatusTemplates = []StatusRule{
		{Template: "z/{device+}/availability", Key: "state"},
		{Template: "t/{device}/LWT", Online: []string{"Online"}, Offline: []string{"Offline"}},
	}
	return c
}

func TestShapes(t *testing.T) {
	m := mustNew(t, shapesConfig())
	tests := []struct {
		name, topic, payload string
		want                 string // lines, or "reason: detail part" for a reject
	}{
		{"flatten", "flat/d", `{"BME280":{"Temperature":21.5,"Humidity":40},"ok":true}`,
			"m,device=d BME280_Humidity=40,BME280_Temperature=21.5,ok=true " + rxNanos + "\n"},
		{"flatten deep with separator", "dot/d", `{"a":{"b":{"c":1}}}`, "m,device=d a.b.c=1 " + rxNanos + "\n"},
		{"array indexed", "flat/d", `{"Power":[12,0],"x":[{"y":1}]}`,
			"m,device=d Power_0=12,Power_1=0,x_0_y=1 " + rxNanos + "\n"},
		{"array refused", "dot/d", `{"a":[1]}`, "bad_field: is an array"},
		{"null skipped", "flat/d", `{"a":null,"b":1}`, "m,device=d b=1 " + rxNanos + "\n"},
		{"only nulls", "flat/d", `{"a":null}`, "no_fields: no fields"},
		{"null refused", "dot/d", `{"a":null,"b":1}`, "null_field: is null"},
		{"flattened name clash", "flat/d", `{"a":{"b":1},"a_b":2}`, "bad_field: given twice"},
		{"ignored", "flat/d/set", `not even json`, ""},
		{"points, local time in the zone", "pts/d",
			`{"Time":"2026-01-15T12:00:00","BME280":{"Temperature":21.5,"Sub":{"x":1}},"DS18B20":{"Temperature":19},"TempUnit":"C"}`,
			"m,device=d TempUnit=\"C\" 1768474800000000000\n" +
				"m,device=d,sensor=BME280 Sub_x=1,Temperature=21.5 1768474800000000000\n" +
				"m,device=d,sensor=DS18B20 Temperature=19 1768474800000000000\n"},
		{"points, summer time", "pts/d", `{"Time":"2026-07-15T12:00:00","S":{"v":1}}`,
			"m,device=d,sensor=S v=1 1784109600000000000\n"},
		{"points, zone given", "pts/d", `{"Time":"2026-07-15T12:00:00Z","S":{"v":1}}`,
			"m,device=d,sensor=S v=1 1784116800000000000\n"},
		{"points, payload tag clash", "pts/d", `{"tags":{"sensor":"x"},"S":{"v":1}}`, "bad_tag: would shadow tag \"sensor\" (the object_tag of template"},
		{"root", "root/d", `{"src":"d","method":"NotifyStatus","params":{"ts":1700000001.5,"switch:0":{"id":0,"apower":12.5}}}`,
			"m,component=switch:0,device=d apower=12.5,id=0 1700000001500000000\n"},
		{"root not an object", "root/d", `{"params":1}`, "bad_field: must be an object"},
		{"text string", "text/d/state", `ON`, "m,device=d state=\"ON\" " + rxNanos + "\n"},
		{"text number", "text/d/temp", ` 21.5 `, "m,device=d temp=21.5 " + rxNanos + "\n"},
		{"text json", "text/d/x", `{"a":1}`, "m,device=d a=1 " + rxNanos + "\n"},
		{"multi-level device", "z/living room/lamp", `{"brightness":100}`, "z,device=living\\ room/lamp brightness=100 " + rxNanos + "\n"},
		{"status json", "z/hall/motion/availability", `{"state":"online"}`, "device_status,device=hall/motion online=true,state=\"online\" " + rxNanos + "\n"},
		{"status plain", "z/hall/motion/availability", `offline`, "device_status,device=hall/motion online=false,state=\"offline\" " + rxNanos + "\n"},
		{"status json other word", "z/hall/availability", `{"state":"maybe"}`, "bad_status: want online or offline"},
		{"status json no key", "z/hall/availability", `{"other":"online"}`, "bad_status: with a string \"state\""},
		{"status case-insensitive", "t/sonoff/LWT", `online`, "device_status,device=sonoff online=true,state=\"online\" " + rxNanos + "\n"},
		{"status own words", "t/sonoff/LWT", `Offline`, "device_status,device=sonoff online=false,state=\"offline\" " + rxNanos + "\n"},
		{"default status case-insensitive", "devices/pi-1/status", `ONLINE`, "device_status,device=pi-1 online=true,state=\"online\" " + rxNanos + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := m.Append([]byte("prefix\n"), tt.topic, []byte(tt.payload), receivedAt())
			if reason, detail, isRej := strings.Cut(tt.want, ": "); isRej && !strings.Contains(tt.want, "\n") {
				re := rejectOf(t, err)
				if re.Reason != reason || !strings.Contains(re.Detail, detail) {
					t.Fatalf("reject %s: %s; want %s containing %q", re.Reason, re.Detail, reason, detail)
				}
				return
			}
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if got := strings.TrimPrefix(string(out), "prefix\n"); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestShapesConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"objects", func(c *Config) { c.Topics[0].Objects = "explode" }, "mapping.topics[0].objects:"},
		{"arrays", func(c *Config) { c.Topics[0].Arrays = "flatten" }, "mapping.topics[0].arrays:"},
		{"nulls", func(c *Config) { c.Topics[0].Nulls = "zero" }, "mapping.topics[0].nulls:"},
		{"object tag is a capture", func(c *Config) {
			c.Topics[0].Objects, c.Topics[0].ObjectTag = Points, "device"
		}, "mapping.topics[0].object_tag:"},
		{"timezone", func(c *Config) { c.Timezone = "Mars/Olympus" }, "mapping.timezone:"},
		{"preset", func(c *Config) { c.Presets = []string{"homie"} }, "mapping.presets[0]:"},
		{"preset twice", func(c *Config) { c.Presets = []string{"tasmota", "tasmota"} }, "mapping.presets[1]:"},
		{"status words", func(c *Config) {
			c.StatusTemplates = []StatusRule{{Template: "s/{device}", Online: []string{"on"}, Offline: []string{"ON"}}}
		}, "mapping.status_templates[0]:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			_, err := New(c)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("New: %v; want an error starting %q", err, tt.want)
			}
		})
	}
}

// Every preset is valid configuration, alone and all together.
func TestPresetsBuild(t *testing.T) {
	c := DefaultConfig()
	c.Presets = PresetNames()
	m := mustNew(t, c)
	if len(m.Filters()) < 5 {
		t.Fatalf("Filters = %q", m.Filters())
	}
}
