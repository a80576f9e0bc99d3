package configfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testConfig exercises every kind of value the walker handles.
type testConfig struct {
	Name     string            `yaml:"name"`
	Count    int               `yaml:"count"`
	Ratio    float64           `yaml:"ratio"`
	On       bool              `yaml:"on"`
	Wait     time.Duration     `yaml:"wait"`
	Max      Size              `yaml:"max"`
	List     []string          `yaml:"list"`
	Tags     map[string]string `yaml:"tags"`
	Inner    testInner         `yaml:"inner"`
	Items    []testInner       `yaml:"items"`
	Skipped  func()            `yaml:"-"`
	testFlat `yaml:",inline"`
}

type testInner struct {
	Addr string `yaml:"addr"`
	N    int    `yaml:"n"`
}

type testFlat struct {
	Flat string `yaml:"flat"`
}

func testDefaults() testConfig {
	return testConfig{Name: "default", Count: 3, Max: 64 << 10, List: []string{"a"}, Inner: testInner{Addr: ":1", N: 1}}
}

func TestLoadKeepsDefaultsAndDecodes(t *testing.T) {
	cfg := testDefaults()
	doc := "count: 7\nwait: 1m30s\nmax: 2MiB\nlist: [x, y]\ntags: {k: v}\ninner:\n  n: 9\nitems:\n  - {addr: \"h:1\"}\nflat: yes-flat\n"
	if _, err := Load([]byte(doc), "t.yaml", &cfg, nil); err != nil {
		t.Fatal(err)
	}
	want := testDefaults()
	want.Count, want.Wait, want.Max = 7, 90*time.Second, 2<<20
	want.List, want.Tags = []string{"x", "y"}, map[string]string{"k": "v"}
	want.Inner.N, want.Items, want.Flat = 9, []testInner{{Addr: "h:1"}}, "yes-flat"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadEmptyDocumentsKeepDefaults(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "~\n", "inner:\n"} {
		cfg := testDefaults()
		if _, err := Load([]byte(doc), "t.yaml", &cfg, nil); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
		if !reflect.DeepEqual(cfg, testDefaults()) {
			t.Errorf("%q changed the defaults: %+v", doc, cfg)
		}
	}
}

// Every problem names the file, line, column and key path, and all of them
// come back together.
func TestLoadProblems(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", "nmae: x\n", []string{"t.yaml:1:1: nmae: unknown key; known keys here: count, flat, inner, items, list, max, name, on, ratio, tags, wait"}},
		{"unknown nested key", "inner:\n  adr: x\n", []string{"t.yaml:2:3: inner.adr: unknown key; known keys here: addr, n"}},
		{"skipped field is no key", "skipped: x\n", []string{"t.yaml:1:1: skipped: unknown key"}},
		{"whole number", "count: lots\n", []string{`t.yaml:1:8: count: want a whole number, got "lots"`}},
		{"number", "ratio: half\n", []string{`ratio: want a number, got "half"`}},
		{"bool", "on: maybe\n", []string{`on: want true or false, got "maybe"`}},
		{"duration", "wait: 5\n", []string{"t.yaml:1:7: wait: want a duration such as 500ms, 10s or 5m"}},
		{"size", "max: huge\n", []string{`t.yaml:1:6: max: want a size such as 65536, 64KiB, 512MiB or 2GiB, got "huge"`}},
		{"list where a mapping belongs", "inner: [1]\n", []string{"t.yaml:1:8: inner: want a mapping of keys, got a list"}},
		{"mapping where a list belongs", "list: {a: 1}\n", []string{"t.yaml:1:7: list: want a list, got a mapping"}},
		{"key in a list item", "items:\n  - {n: x}\n", []string{`t.yaml:2:9: items[0].n: want a whole number, got "x"`}},
		{"key twice", "count: 1\ncount: 2\n", []string{"t.yaml:2:1: count: key given twice"}},
		{"every problem at once", "count: x\nnmae: y\n", []string{"t.yaml:1:8: count:", "t.yaml:2:1: nmae:"}},
		{"broken YAML", "list: [\n", []string{"t.yaml: ", "line"}},
		{"two documents", "count: 1\n---\ncount: 2\n", []string{"t.yaml:2: a second YAML document"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testDefaults()
			_, err := Load([]byte(tc.doc), "t.yaml", &cfg, nil)
			if err == nil {
				t.Fatalf("accepted %q", tc.doc)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestProblemsJoinAndUnwrap(t *testing.T) {
	first := errors.New("first")
	p := Problems{first, errors.New("second")}
	if p.Error() != "first\nsecond" {
		t.Errorf("Error() = %q", p.Error())
	}
	if !errors.Is(p, first) {
		t.Error("errors.Is does not find a problem")
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("count: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testDefaults()
	if _, err := LoadFile(path, &cfg, nil); err == nil || !strings.Contains(err.Error(), path+":1:8: count") {
		t.Errorf("LoadFile error %v does not name %s:1:8", err, path)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml"), &cfg, nil); err == nil || !strings.Contains(err.Error(), "read config") {
		t.Errorf("missing file: %v", err)
	}
}
