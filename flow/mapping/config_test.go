package mapping

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestNewRejectsBadConfig(t *testing.T) {
	rule := func(tr TopicRule) func(*Config) {
		return func(c *Config) { c.Topics = append(c.Topics, tr) }
	}
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"precision", func(c *Config) { c.TimePrecision = "m" }, `mapping.time_precision: "m" is not one of s, ms, us, ns`},
		{"max fields", func(c *Config) { c.MaxFields = 0 }, "mapping.max_fields: must be positive, got 0"},
		{"max payload", func(c *Config) { c.MaxPayloadBytes = -1 }, "mapping.max_payload_bytes: must be positive"},
		{"no topics", func(c *Config) { c.Topics = nil }, "mapping.topics: needs at least one template"},
		{"empty template", rule(TopicRule{}), "mapping.topics[1].template: is empty"},
		{"unclosed capture", rule(TopicRule{Template: "devices/{device"}), `mapping.topics[1].template: level 2 "{device": +, #, { and } must each be a whole level`},
		{"partial capture", rule(TopicRule{Template: "devices/x{device}/{measurement}"}), "mapping.topics[1].template: level 2"},
		{"# not last", rule(TopicRule{Template: "devices/#/{measurement}"}), "# must be the last level"},
		{"+ inside a level", rule(TopicRule{Template: "devices/a+/{measurement}"}), "whole level"},
		{"capture twice", rule(TopicRule{Template: "{device}/{device}/{measurement}"}), "level 2: device appears twice"},
		{"measurement twice", rule(TopicRule{Template: "{measurement}/{measurement}"}), "{measurement} appears twice"},
		{"tag named time", rule(TopicRule{Template: "a/{time}/{measurement}"}), "refuses a tag named time"},
		{"odd capture name", rule(TopicRule{Template: "a/{de vice}/{measurement}"}), "a capture name may use only"},
		{"no measurement", rule(TopicRule{Template: "a/{device}"}), "mapping.topics[1].measurement: required when the template has no {measurement} level"},
		{"measurement twice over", rule(TopicRule{Template: "a/{measurement}", Measurement: "m"}), "mapping.topics[1].measurement: the template already captures"},
		{"bad fixed measurement", rule(TopicRule{Template: "a/{device}", Measurement: "m\n"}), "control character"},
		{"presence measurement", rule(TopicRule{Template: "a/{device}", Measurement: StatusMeasurement}), `mapping.topics[1].measurement: "device_status" is written only by the status template`},
		{"comment measurement", rule(TopicRule{Template: "a/{device}", Measurement: "#m"}), "starts with '#'"},
		{"format", rule(TopicRule{Template: "a/{measurement}", Format: "xml"}), `mapping.topics[1].format: "xml" is not one of auto, line`},
		{"line with measurement", rule(TopicRule{Template: "a/{measurement}", Format: "line"}), "with format line the payload names measurement"},
		{"rule precision", rule(TopicRule{Template: "a/{measurement}", TimePrecision: "h"}), `mapping.topics[1].time_precision: "h"`},
		{"static tag clash", rule(TopicRule{Template: "a/{device}/{measurement}", Tags: map[string]string{"device": "x"}}), "mapping.topics[1].tags.device: the template already captures {device}"},
		{"static tag empty", rule(TopicRule{Template: "a/{measurement}", Tags: map[string]string{"site": ""}}), "mapping.topics[1].tags.site: value \"\" is empty"},
		{"static tag time", rule(TopicRule{Template: "a/{measurement}", Tags: map[string]string{"time": "x"}}), "tags.time: InfluxDB refuses"},
		{"too many tags", func(c *Config) { c.MaxTags = 1; c.Topics[0].Tags = map[string]string{"site": "x"} }, "mapping.topics[0].tags: the template and tags give 2 tags but max_tags is 1"},
		{"status without device", func(c *Config) { c.StatusTemplate = "status/{name}" }, "mapping.status_template: must capture {device}"},
		{"status with measurement", func(c *Config) { c.StatusTemplate = "s/{device}/{measurement}" }, "mapping.status_template: {measurement} and {field}"},
		{"status syntax", func(c *Config) { c.StatusTemplate = "s/#/{device}" }, "mapping.status_template: level 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			m, err := New(c)
			if err == nil {
				t.Fatalf("New accepted the config: %+v", m)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"default", DefaultConfig(), []string{"devices/+/sensors/+", "devices/+/logs", "devices/+/status"}},
		{"every kind", testConfig(), []string{
			"devices/+/sensors/+", "devices/+/line", "farm/+/+/+/+", "legacy/+/#",
			"ms/+/+", "us/+/+", "ns/+/+", "nsline/+", "devices/+/logs", "devices/+/status",
		}},
		{"duplicates and presence off", Config{
			Topics: []TopicRule{
				{Template: "a/{device}/{measurement}"}, {Template: "a/+/{measurement}"},
			},
			TimePrecision: "s", MaxPayloadBytes: 1, MaxFields: 1, MaxTags: 1, MaxStringBytes: 1, MaxDepth: 1, MaxKeyBytes: 1,
		}, []string{"a/+/+"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustNew(t, tc.cfg).Filters()
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Filters() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConfigYAML reads the mapping section the way config.yaml is read:
// defaults first, then the file, misspelt keys refused.
func TestConfigYAML(t *testing.T) {
	const doc = `
mapping:
  topics:
    - template: devices/{device}/sensors/{measurement}
      format: auto
      tags: {site: lab}
    - template: plant/{line}/+/#
      measurement: plant
      time_precision: ms
  status_template: ""
  time_precision: ms
  max_payload_bytes: 1024
  max_fields: 8
  max_tags: 4
  max_string_bytes: 100
`
	var file struct {
		Mapping Config `yaml:"mapping"`
	}
	file.Mapping = DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	c := file.Mapping
	if c.StatusTemplate != "" || c.TimePrecision != "ms" || c.MaxPayloadBytes != 1024 || c.MaxFields != 8 ||
		c.MaxTags != 4 || c.MaxStringBytes != 100 || len(c.Topics) != 2 ||
		c.Topics[0].Tags["site"] != "lab" || c.Topics[1].Measurement != "plant" || c.Topics[1].TimePrecision != "ms" {
		t.Fatalf("decoded %+v", c)
	}
	m := mustNew(t, c)
	if got, want := m.Filters(), []string{"devices/+/sensors/+", "plant/+/+/#", "devices/+/logs"}; !slices.Equal(got, want) {
		t.Fatalf("Filters() = %q, want %q", got, want)
	}
	out, err := m.Append(nil, "plant/l2/x/y/z", []byte(`{"v": 1, "time": 1700000000123}`), receivedAt())
	if err != nil || string(out) != "plant,line=l2 v=1 1700000000123000000\n" {
		t.Fatalf("Append = %q, %v", out, err)
	}

	bad := strings.Replace(doc, "max_tags", "max_tag", 1)
	dec = yaml.NewDecoder(strings.NewReader(bad))
	dec.KnownFields(true)
	err = dec.Decode(&file)
	if err == nil || !strings.Contains(err.Error(), "max_tag") || !strings.Contains(err.Error(), "line 14") {
		t.Fatalf("misspelt key: err = %v, want one naming max_tag on line 14", err)
	}
}

// TestDefaultConfigRoundTrip checks every field of DefaultConfig has a yaml
// key that reads back.
func TestDefaultConfigRoundTrip(t *testing.T) {
	b, err := yaml.Marshal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"topics:", "template:", "format:", "tags:", "status_template:", "time_precision:",
		"max_payload_bytes:", "max_fields:", "max_tags:", "max_string_bytes:"} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("marshalled default config lacks %s:\n%s", key, b)
		}
	}
	var back Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(DefaultConfig()) {
		t.Fatalf("round trip: %+v, want %+v", back, DefaultConfig())
	}
}

// TestConcurrentAppend runs many goroutines through one Mapper (the broker
// calls it from every client's goroutine); with -race this checks the
// pooled scratch space is never shared.
func TestConcurrentAppend(t *testing.T) {
	m := mustNew(t, testConfig())
	const workers, rounds = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				dev := fmt.Sprintf("pi-%d", w)
				payload := fmt.Sprintf(`{"tags": {"r\u00e9": "w%d"}, "s\u00e9": "v%d", "n": %d}`, w, i, i)
				out, err := m.Append(nil, "devices/"+dev+"/sensors/t", []byte(payload), receivedAt())
				want := fmt.Sprintf("t,device=%s,ré=w%d n=%d,sé=\"v%d\" %s\n", dev, w, i, i, rxNanos)
				if err != nil || string(out) != want {
					errs <- fmt.Errorf("worker %d round %d: %q, %v; want %q", w, i, out, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestAllocations holds the hot forms to the allocation budget: at most
// two per reading for bare numbers and flat JSON.
func TestAllocations(t *testing.T) {
	m := mustNew(t, DefaultConfig())
	cases := []struct{ name, payload string }{
		{"number", "21.5"},
		{"json", `{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`},
		{"json multi", `{"temperature": 21.5, "humidity": 40.1, "ok": true, "note": "a\"b", "time": 1700000000}`},
		{"explicit", `{"fields": {"a": 1, "b": "x"}, "tags": {"room": "k"}, "time": "2026-11-23T19:00:00+01:00"}`},
		{"status", "online"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topic := "devices/pi-1/sensors/temp"
			if tc.name == "status" {
				topic = "devices/pi-1/status"
			}
			payload := []byte(tc.payload)
			dst := make([]byte, 0, 1024)
			allocs := testing.AllocsPerRun(200, func() {
				if _, err := m.Append(dst[:0], topic, payload, receivedAt()); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > 2 {
				t.Fatalf("%v allocations per reading, budget is 2", allocs)
			}
		})
	}
}
