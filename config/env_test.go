package config

import "testing"

// An address override is taken as written, although [::]:1883 does not
// parse as YAML; values that do parse keep their YAML meaning.
func TestEnvOverridesStrings(t *testing.T) {
	cases := []struct {
		name, env, want string
	}{
		{"IPv6 any address", "MQFLUX_BROKER_TCP=[::]:1883", "[::]:1883"},
		{"IPv6 loopback", "MQFLUX_BROKER_TCP=[::1]:1883", "[::1]:1883"},
		{"plain", "MQFLUX_BROKER_TCP=0.0.0.0:1883", "0.0.0.0:1883"},
		{"quoted YAML", `MQFLUX_BROKER_TCP="127.0.0.1:1884"`, "127.0.0.1:1884"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			if _, err := Load([]byte("{}"), "test.yaml", &c, []string{tc.env}); err != nil {
				t.Fatalf("load with %s: %v", tc.env, err)
			}
			if c.Broker.TCP != tc.want {
				t.Fatalf("%s gives broker.tcp %q, want %q", tc.env, c.Broker.TCP, tc.want)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("%s: %v", tc.env, err)
			}
		})
	}
}

// A list key still reads its override as YAML, and a malformed one is
// still an error naming the variable.
func TestEnvOverridesNonStrings(t *testing.T) {
	c := Default()
	if _, err := Load([]byte("{}"), "test.yaml", &c, []string{"MQFLUX_HTTP_LEGACY_PARAMETERS=[a, b]"}); err != nil {
		t.Fatal(err)
	}
	if got := c.HTTP.Legacy.Parameters; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("parameters %q, want [a b]", got)
	}
	_, err := Load([]byte("{}"), "test.yaml", &c, []string{"MQFLUX_HTTP_LEGACY_PARAMETERS=[a, b"})
	if err == nil {
		t.Fatal("a malformed list override loaded without an error")
	}
}
