package server

import (
	"strings"
	"testing"

	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/flow/shim"
)

// bcrypt of "x" at cost 4: a well-formed hash, so only the key under test
// is wrong.
const testHash = "$2a$04$4sXw4Fvr8sYlH0bW8c2Bde3gDq0yIhdLJ0ZH8tI7S8rkFe4w9yH0y"

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
	c.Bridge.URL = "tcp://broker.example:1883"
	if err := c.ValidateBridge(); err != nil {
		t.Errorf("the bridge defaults with a URL do not validate: %v", err)
	}
}

// Each section checks itself, and its problems come back under the
// section's full key path, cross-key messages included.
func TestValidateNamesFullKeys(t *testing.T) {
	cases := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"nested list item", func(c *Config) { c.HTTP.Legacy.Keys = []shim.Key{{KeyHash: testHash, Device: "a b"}} },
			`http.legacy.keys[0].device: "a b": use "*" or a device name`},
		{"duplicate user names the other", func(c *Config) {
			u := broker.User{Name: "pi", PasswordHash: testHash, Role: broker.RoleDevice}
			c.Broker.Users = []broker.User{u, u}
		}, `broker.users[1].name: "pi" is also broker.users[0]`},
		{"cross-key", func(c *Config) { c.Spool.SegmentBytes = c.Spool.MaxBytes + 1<<20 },
			"spool.segment_bytes: 1025MiB is larger than spool.max_bytes (1GiB)"},
		{"section as a whole", func(c *Config) { c.Broker.TCP = "" }, "broker: every listener is disabled"},
		{"size below its floor", func(c *Config) { c.DeadLetter.MaxBytes = 1000 }, "dead_letter.max_bytes: 1000 is too small; at least 64KiB"},
		{"size in bytes", func(c *Config) { c.HTTP.Legacy.MaxLineBytes = 100 }, "http.legacy.max_line_bytes: 100 is too small; at least 256B"},
		{"server's own key", func(c *Config) { c.HTTP.LatestMaxSeries = -1 }, "http.latest_max_series: -1 is out of range; allowed 0 to 100000000"},
		{"influx", func(c *Config) { c.Influx.MaxBackoff = 0 }, "influx.max_backoff: 0s is out of range; allowed 100ms to 10m0s"},
		{"device named like a template's literal", func(c *Config) {
			c.Mapping.Presets = []string{"esphome"}
			c.Broker.Users = []broker.User{{Name: "devices", PasswordHash: testHash, Role: broker.RoleDevice}}
		}, `broker.users[0].name: device "devices" is level 1 of template "devices/{device}/sensors/{measurement}"`},
		{"device named like discovery's literal", func(c *Config) {
			c.Broker.Users = []broker.User{{Name: "homeassistant", PasswordHash: testHash, Role: broker.RoleDevice}}
		}, `broker.users[0].name: device "homeassistant" is level 1 of template "homeassistant/+/{device}/+/config"`},
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

func TestValidateBridgeNamesBridgeKeys(t *testing.T) {
	c := DefaultConfig()
	c.Bridge.URL, c.Bridge.ClientID, c.Bridge.Filters = "http://x", "", []string{""}
	err := c.ValidateBridge()
	for _, want := range []string{
		`bridge.url: scheme must be tcp, ssl, ws or wss, got "http"`,
		`bridge.client_id: "": a fixed client id is required`,
		`bridge.filters[0]: "" is not a topic filter`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateBridge() = %v, want a problem %q", err, want)
		}
	}
}
