package configfile

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEnvOverrides(t *testing.T) {
	cfg := testDefaults()
	environ := []string{
		"MQFLUX_COUNT=12",
		"MQFLUX_WAIT=2s",
		"MQFLUX_MAX=1GiB",
		"MQFLUX_LIST=[p, q]",
		"MQFLUX_INNER_ADDR=0.0.0.0:9",
		"MQFLUX_FLAT=from-env",
		"MQFLUX_NAME=",
		"MQFLUX_NOT_A_KEY=1",
		"PATH=/bin",
		"MQFLUX_ITEMS=[{addr: a, n: 2}]",
	}
	warnings, err := Load([]byte("count: 5\nname: file\n"), "t.yaml", &cfg, environ)
	if err != nil {
		t.Fatal(err)
	}
	want := testDefaults()
	want.Count, want.Wait, want.Max, want.List = 12, 2*time.Second, 1<<30, []string{"p", "q"}
	want.Inner.Addr, want.Flat, want.Name = "0.0.0.0:9", "from-env", ""
	want.Items = []testInner{{Addr: "a", N: 2}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "MQFLUX_NOT_A_KEY names no configuration key") {
		t.Errorf("warnings = %q", warnings)
	}
}

func TestEnvProblemsNameTheVariable(t *testing.T) {
	cases := []struct{ env, want string }{
		{"MQFLUX_COUNT=many", `environment MQFLUX_COUNT count: want a whole number, got "many"`},
		{"MQFLUX_INNER_N=x", `environment MQFLUX_INNER_N inner.n: want a whole number, got "x"`},
		{"MQFLUX_LIST=[", "MQFLUX_LIST (list):"},
	}
	for _, tc := range cases {
		cfg := testDefaults()
		_, err := Load(nil, "t.yaml", &cfg, []string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.env, err, tc.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for path, want := range map[string]string{
		"influx.url": "MQFLUX_INFLUX_URL",
		"data_dir":   "MQFLUX_DATA_DIR",
		"a.b.c_d":    "MQFLUX_A_B_C_D",
	} {
		if got := EnvName(path); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", path, got, want)
		}
	}
}

// A string override is taken as written when it is not a YAML scalar
// ([::]:1883 reads as the start of a YAML list); values that do parse keep
// their YAML meaning.
func TestEnvOverridesStrings(t *testing.T) {
	cases := []struct {
		name, env, want string
	}{
		{"IPv6 any address", "MQFLUX_INNER_ADDR=[::]:1883", "[::]:1883"},
		{"IPv6 loopback", "MQFLUX_INNER_ADDR=[::1]:1883", "[::1]:1883"},
		{"plain", "MQFLUX_INNER_ADDR=0.0.0.0:1883", "0.0.0.0:1883"},
		{"quoted YAML", `MQFLUX_INNER_ADDR="127.0.0.1:1884"`, "127.0.0.1:1884"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testDefaults()
			if _, err := Load([]byte("{}"), "test.yaml", &c, []string{tc.env}); err != nil {
				t.Fatalf("load with %s: %v", tc.env, err)
			}
			if c.Inner.Addr != tc.want {
				t.Fatalf("%s gives inner.addr %q, want %q", tc.env, c.Inner.Addr, tc.want)
			}
			var v Validator
			v.Address("inner.addr", c.Inner.Addr, false)
			if err := v.Err(); err != nil {
				t.Fatalf("%s: %v", tc.env, err)
			}
		})
	}
}

// A list key still reads its override as YAML, and a malformed one is
// still an error naming the variable.
func TestEnvOverridesNonStrings(t *testing.T) {
	c := testDefaults()
	if _, err := Load([]byte("{}"), "test.yaml", &c, []string{"MQFLUX_LIST=[a, b]"}); err != nil {
		t.Fatal(err)
	}
	if got := c.List; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("list %q, want [a b]", got)
	}
	_, err := Load([]byte("{}"), "test.yaml", &c, []string{"MQFLUX_LIST=[a, b"})
	if err == nil || !strings.Contains(err.Error(), "MQFLUX_LIST") {
		t.Fatalf("a malformed list override: %v, want an error naming MQFLUX_LIST", err)
	}
}
