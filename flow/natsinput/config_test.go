package natsinput

import (
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // "" for valid
	}{
		{"defaults with a URL", func(*Config) {}, ""},
		{"a stream of one's own", func(c *Config) { c.Stream, c.Subjects = "DEVICES", []string{"devices.>"} }, ""},
		{"no URL", func(c *Config) { c.URLs = nil }, "urls: at least one NATS server"},
		{"an MQTT URL", func(c *Config) { c.URLs = []string{"tcp://n:1883"} }, `urls[0]: "tcp://n:1883" is not a NATS URL`},
		{"creds and user", func(c *Config) { c.Creds, c.User, c.PasswordFile = "a.creds", "u", "p" }, "creds: set either creds or user"},
		{"user without password_file", func(c *Config) { c.User = "u" }, "password_file: user and password_file go together"},
		{"a dotted stream name", func(c *Config) { c.Stream = "DEV.ICES" }, `stream: "DEV.ICES" is not a stream name`},
		{"no subjects", func(c *Config) { c.Subjects = nil }, "subjects: at least one subject"},
		{"a subject with a space", func(c *Config) { c.Subjects = []string{"devices .>"} }, `subjects[0]: "devices .>" is not a NATS subject`},
		{"replicas 7", func(c *Config) { c.Replicas = 7 }, "replicas: 7 is out of range"},
		{"batch 0", func(c *Config) { c.Batch = 0 }, "batch: 0 is out of range"},
		{"ack_wait 1ms", func(c *Config) { c.AckWait = time.Millisecond }, "ack_wait: 1ms is out of range"},
		{"max_bytes 1KiB", func(c *Config) { c.MaxBytes = 1 << 10 }, "max_bytes: 1KiB is too small"},
	} {
		c := DefaultConfig()
		c.URLs = []string{"nats://n1:4222"}
		tc.mod(&c)
		var v configfile.Validator
		c.Validate(&v)
		err := v.Err()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
