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
