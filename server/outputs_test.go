package server

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/influxwriter"
	"github.com/mqflux/mqflux/flow/pipeline"
	"github.com/mqflux/mqflux/internal/configfile"
)

const twoOutputs = `
outputs:
  - name: influx
    kind: influxdb
    api: v2
    url: http://127.0.0.1:8086
    bucket: telemetry/autogen
    required: true
  - name: vm
    api: v1
    url: http://127.0.0.1:8428
    required: false
    max_lag: 64MiB
    gzip: false
`

// Each entry starts from the defaults, so a key left out is the default
// and not the zero value, and the list comes whole from the file or from
// MQFLUX_OUTPUTS.
func TestOutputsLoad(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        []string
		want       []Output
	}{
		{"influx alone is one required output", "influx:\n  url: http://db:8086\n", nil, []Output{
			outputWith("influx", "v2", true, func(o *Output, w *influxwriter.Options) { w.URL = "http://db:8086" }),
		}},
		{"a list", twoOutputs, nil, []Output{
			outputWith("influx", "v2", true, nil),
			outputWith("vm", "v1", false, func(o *Output, w *influxwriter.Options) {
				w.URL, w.Gzip, o.MaxLag = "http://127.0.0.1:8428", false, 64<<20
			}),
		}},
		{"from the environment", "", []string{`MQFLUX_OUTPUTS=[{name: a, url: "http://a:8086"}, {name: b, required: false, url: "http://b:8428", api: v1}]`}, []Output{
			outputWith("a", "v2", true, func(o *Output, w *influxwriter.Options) { w.URL = "http://a:8086" }),
			outputWith("b", "v1", false, func(o *Output, w *influxwriter.Options) { w.URL = "http://b:8428" }),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			if _, err := configfile.Load([]byte(tc.yaml), "config.yaml", &c, tc.env); err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got := c.OutputList()
			if len(got) != len(tc.want) {
				t.Fatalf("got %d outputs %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tc.want[i]) {
					t.Errorf("output %d:\n got %+v %+v\nwant %+v %+v", i, got[i], got[i].Config, tc.want[i], tc.want[i].Config)
				}
			}
		})
	}
}

// outputWith is an influxdb output with the writer's defaults, changed.
func outputWith(name, api string, required bool, change func(*Output, *influxwriter.Options)) Output {
	w := influxwriter.DefaultOptions()
	w.API = api
	o := Output{Name: name, Kind: influxwriter.Kind, Required: required, Config: &w}
	if change != nil {
		change(&o, &w)
	}
	return o
}

// Problems of the list name the entry by index, cross-key ones the other
// key too.
func TestValidateOutputs(t *testing.T) {
	vm := func(change func(o *Output, w *influxwriter.Options)) func(c *Config) {
		return func(c *Config) {
			a := outputWith("influx", "v2", true, nil)
			b := outputWith("vm", "v1", false, change)
			c.Outputs = []Output{a, b}
		}
	}
	cases := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"duplicate name", vm(func(o *Output, _ *influxwriter.Options) { o.Name = "influx" }), `outputs[1].name: "influx" is also outputs[0]`},
		{"empty name", vm(func(o *Output, _ *influxwriter.Options) { o.Name = "" }), `outputs[1].name: "": want 1 to 32 of a-z, 0-9, _ and -`},
		{"unknown kind", vm(func(o *Output, _ *influxwriter.Options) { o.Kind = "kafka" }), `outputs[1].kind: "kafka" is not allowed; use one of influxdb`},
		{"unknown api", vm(func(_ *Output, w *influxwriter.Options) { w.API = "v9" }), `outputs[1].api: "v9" is not allowed; use one of v1, v2, v3`},
		{"no required output", func(c *Config) {
			vm(nil)(c)
			c.Outputs[0].Required = false
		}, "outputs: no output is required"},
		{"max_lag on a required output", vm(func(o *Output, _ *influxwriter.Options) { o.Required, o.MaxLag = true, 1<<30 }), "outputs[1].max_lag: only an optional output"},
		{"max_lag beyond the spool", vm(func(o *Output, _ *influxwriter.Options) { o.MaxLag = 2 << 30 }), "outputs[1].max_lag: 2GiB must be below spool.max_bytes (1GiB)"},
		{"max_lag too small", vm(func(o *Output, _ *influxwriter.Options) { o.MaxLag = 1000 }), "outputs[1].max_lag: 1000 is too small; at least 1MiB"},
		{"writer options", vm(func(_ *Output, w *influxwriter.Options) { w.URL = "ftp://x" }), `outputs[1].url: scheme must be http or https, got "ftp"`},
		{"influx beside outputs", func(c *Config) {
			vm(nil)(c)
			c.Influx.URL = "http://elsewhere:8086"
		}, "influx: set beside outputs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want a problem %q", err, tc.want)
			}
		})
	}
}

func TestMaxLag(t *testing.T) {
	cases := []struct {
		name     string
		o        Output
		spoolMax int64
		want     int64
	}{
		{"required holds the spool", Output{Required: true}, 1 << 30, 0},
		{"optional, set", Output{MaxLag: 8 << 20}, 1 << 30, 8 << 20},
		{"optional, default", Output{}, 1 << 30, pipeline.DefaultMaxLag},
		{"optional, default bounded by the spool", Output{}, 64 << 20, 32 << 20},
	}
	for _, tc := range cases {
		if got := maxLag(tc.o, tc.spoolMax); got != tc.want {
			t.Errorf("%s: maxLag = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestOutputsDown(t *testing.T) {
	cases := []struct {
		name string
		outs []pipeline.OutputHealth
		want string
	}{
		{"all up", []pipeline.OutputHealth{{Name: "influx", Required: true, Up: true}, {Name: "vm", Up: true}}, ""},
		{"required down", []pipeline.OutputHealth{{Name: "influx", Required: true}, {Name: "vm", Up: true}},
			"output influx unreachable, readings wait in the spool"},
		{"optional down", []pipeline.OutputHealth{{Name: "influx", Required: true, Up: true}, {Name: "vm"}},
			"optional output vm unreachable, falling behind"},
		{"both down", []pipeline.OutputHealth{{Name: "influx", Required: true}, {Name: "vm"}},
			"output influx unreachable, readings wait in the spool; optional output vm unreachable, falling behind"},
	}
	for _, tc := range cases {
		if got := outputsDown(pipeline.Health{Outputs: tc.outs}); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
