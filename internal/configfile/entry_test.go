package configfile

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// sinkConfig has a list of entries {name, kind, required, <the kind's
// keys>}: each starts from its defaults, and its kind picks the rest.
type sinkConfig struct {
	Outputs []sink `yaml:"outputs"`
	Plain   []plainEntry
}

type sink struct {
	Name     string `yaml:"name"`
	Kind     string `yaml:"kind"`
	Required bool   `yaml:"required"`
	Settings any    `yaml:"-"`
}

func (s *sink) SetDefaults() { *s = sink{Kind: "http", Required: true} }

func (s *sink) Extension() (any, error) {
	switch s.Kind {
	case "http":
		s.Settings = &httpSink{URL: "http://localhost:8086", Gzip: true, Timeout: 10 * time.Second}
	case "file":
		s.Settings = &fileSink{Path: "/var/lib/out"}
	default:
		return nil, KeyError("kind", "%q is not a kind of sink", s.Kind)
	}
	return s.Settings, nil
}

type httpSink struct {
	URL     string        `yaml:"url"`
	Gzip    bool          `yaml:"gzip"`
	Timeout time.Duration `yaml:"timeout"`
}

type fileSink struct {
	Path string `yaml:"path"`
}

// plainEntry has defaults but no extension.
type plainEntry struct {
	Addr string `yaml:"addr"`
	Port int    `yaml:"port"`
}

func (p *plainEntry) SetDefaults() { p.Port = 1883 }

func httpOut(name string, change func(*sink, *httpSink)) sink {
	h := &httpSink{URL: "http://localhost:8086", Gzip: true, Timeout: 10 * time.Second}
	s := sink{Name: name, Kind: "http", Required: true, Settings: h}
	if change != nil {
		change(&s, h)
	}
	return s
}

// A list element starts from its defaults, and its kind's keys from the
// kind's; a key the entry gives changes only itself.
func TestEntriesStartFromDefaults(t *testing.T) {
	cases := []struct {
		name, doc string
		env       []string
		want      sinkConfig
	}{
		{"defaults kept for keys not given",
			"outputs:\n  - name: a\n  - name: b\n    kind: http\n    url: http://b:8428\n    required: false\n",
			nil, sinkConfig{Outputs: []sink{
				httpOut("a", nil),
				httpOut("b", func(s *sink, h *httpSink) { s.Required, h.URL = false, "http://b:8428" }),
			}}},
		{"another kind, its own defaults",
			"outputs:\n  - {name: f, kind: file}\n",
			nil, sinkConfig{Outputs: []sink{{Name: "f", Kind: "file", Required: true, Settings: &fileSink{Path: "/var/lib/out"}}}}},
		{"an empty entry is all defaults",
			"outputs:\n  - ~\n",
			nil, sinkConfig{Outputs: []sink{httpOut("", nil)}}},
		{"from the environment",
			"outputs:\n  - name: file-entry\n",
			[]string{"MQFLUX_OUTPUTS=[{name: e, gzip: false}]"},
			sinkConfig{Outputs: []sink{httpOut("e", func(_ *sink, h *httpSink) { h.Gzip = false })}}},
		{"an entry without an extension",
			"plain:\n  - addr: h\n  - {addr: i, port: 8883}\n",
			nil, sinkConfig{Plain: []plainEntry{{Addr: "h", Port: 1883}, {Addr: "i", Port: 8883}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg sinkConfig
			if _, err := Load([]byte(tc.doc), "c.yaml", &cfg, tc.env); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg, tc.want) {
				t.Errorf("got  %+v %s\nwant %+v %s", cfg, settingsOf(cfg), tc.want, settingsOf(tc.want))
			}
		})
	}
}

func settingsOf(c sinkConfig) string {
	var b strings.Builder
	for _, o := range c.Outputs {
		fmt.Fprintf(&b, "%+v ", o.Settings)
	}
	return b.String()
}

// Problems in an entry carry the file, line, column and key path, as in
// the rest of the file, and come in file order.
func TestEntryProblems(t *testing.T) {
	two := func(second string) string {
		return "outputs:\n  - name: a\n  - name: b\n" + second
	}
	cases := []struct {
		name, doc, env string
		want, not      string // not: what the problems must not say
	}{
		{"unknown key with its line", two("    urll: http://b\n"), "",
			"c.yaml:4:5: outputs[1].urll: unknown key; known keys here: gzip, timeout, url; and in every entry: kind, name, required", ""},
		{"a key of another kind", two("    kind: file\n    url: http://b\n"), "", "c.yaml:5:5: outputs[1].url: unknown key; known keys here: path;", ""},
		{"bad value with its key path", two("    url: [a, b]\n"), "", "c.yaml:4:10: outputs[1].url: cannot unmarshal", ""},
		{"bad value of the kind's key", two("    timeout: 5\n"), "", "c.yaml:4:14: outputs[1].timeout: want a duration", ""},
		{"bad value of a common key", two("    required: maybe\n"), "", `c.yaml:4:15: outputs[1].required: want true or false, got "maybe"`, ""},
		{"unknown kind at the kind", two("    kind: kafka\n    topic: t\n"), "", `c.yaml:4:11: outputs[1].kind: "kafka" is not a kind of sink`, "topic"},
		{"a kind that is no string is not also unknown", two("    kind: [http]\n"), "", "c.yaml:4:11: outputs[1].kind: cannot unmarshal", "not a kind of sink"},
		{"key given twice across the parts", two("    url: http://x\n    url: http://y\n"), "", "c.yaml:5:5: outputs[1].url: key given twice", ""},
		{"every problem, in file order", two("    gzip: often\n    required: maybe\n"), "",
			"c.yaml:4:11: outputs[1].gzip: want true or false, got \"often\"\nc.yaml:5:15: outputs[1].required", ""},
		{"an entry that is no mapping", "outputs:\n  - http\n", "", `c.yaml:2:5: outputs[0]: want a mapping of keys, got "http"`, ""},
		{"from the environment", "", "MQFLUX_OUTPUTS=[{name: a}, {name: b, urll: x}]", "environment MQFLUX_OUTPUTS:1:23: outputs[1].urll: unknown key", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg sinkConfig
			var env []string
			if tc.env != "" {
				env = []string{tc.env}
			}
			_, err := Load([]byte(tc.doc), "c.yaml", &cfg, env)
			switch {
			case err == nil:
				t.Fatalf("accepted %q", tc.doc)
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q\nlacks %q", err, tc.want)
			case tc.not != "" && strings.Contains(err.Error(), tc.not):
				t.Errorf("error %q\nshould not mention %q", err, tc.not)
			}
		})
	}
}

// An UnmarshalYAML decodes an entry with DecodeNode and reports a
// KeyError; Load places both under the file and the entry's path.
func TestDecodeNodeInEntry(t *testing.T) {
	var cfg struct {
		List []viaNode `yaml:"list"`
	}
	_, err := Load([]byte("list:\n  - {kind: file, path: /x}\n  - {kind: nope}\n  - {kind: file, size: 1}\n"), "c.yaml", &cfg, nil)
	for _, w := range []string{
		`c.yaml:3:12: list[1].kind: "nope" is not a kind of sink`,
		"c.yaml:4:18: list[2].size: unknown key; known keys here: path; and in every entry: kind, name, required",
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v\nlacks %q", err, w)
		}
	}
	if got := cfg.List[0].s.Settings; !reflect.DeepEqual(got, &fileSink{Path: "/x"}) {
		t.Errorf("list[0] settings %+v", got)
	}
}

type viaNode struct{ s sink }

func (v *viaNode) UnmarshalYAML(n *yaml.Node) error {
	v.s.SetDefaults()
	return DecodeNode(n, &v.s)
}
