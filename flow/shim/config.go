package shim

import (
	"fmt"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/passwd"
)

// Config is the `http.legacy:` section of the server's configuration: the
// original HTTP POST API kept for loggers in the field.
type Config struct {
	Parameters     []string        `yaml:"parameters"`
	Keys           []Key           `yaml:"keys"`
	MaxBodyBytes   configfile.Size `yaml:"max_body_bytes"`   // one /v1/log-* request
	MaxStreamBytes configfile.Size `yaml:"max_stream_bytes"` // one /ingest stream, 0 = no limit
	MaxLineBytes   configfile.Size `yaml:"max_line_bytes"`   // one /ingest line; 0 means DefaultMaxLineBytes
}

// Key is an X-authorization key (/v1/log-*) or a basic-auth API key
// (/ingest), stored as a bcrypt hash, mapped to a device.
type Key struct {
	KeyHash string `yaml:"key_hash"`
	Device  string `yaml:"device"` // "*": the X-node-id header, or the /ingest basic-auth user
}

// Defaults of Config. A line must fit in memory, so MaxLineBytes has no
// "no limit".
const (
	DefaultMaxBodyBytes   = 64 << 10
	DefaultMaxStreamBytes = 1 << 30
	DefaultMaxLineBytes   = 64 << 10
)

// DefaultConfig serves the three parameters the loggers in the field send,
// with no keys: every request is refused until keys are configured.
func DefaultConfig() Config {
	return Config{
		Parameters:     []string{"temperature", "humidity", "pressure"},
		MaxBodyBytes:   DefaultMaxBodyBytes,
		MaxStreamBytes: DefaultMaxStreamBytes,
		MaxLineBytes:   DefaultMaxLineBytes,
	}
}

// Validate reports every problem of c to v, keys relative to v's section.
func (c *Config) Validate(v *configfile.Validator) {
	seen := map[string]bool{}
	for i, p := range c.Parameters {
		key := fmt.Sprintf("parameters[%d]", i)
		if !validParameter(p) {
			v.Add(key, "%q is not a parameter name: lower-case letters, digits and '_', starting with a letter", p)
		}
		if seen[p] {
			v.Add(key, "%q is listed twice", p)
		}
		seen[p] = true
	}
	for i, k := range c.Keys {
		key := fmt.Sprintf("keys[%d]", i)
		if err := passwd.ValidHash(k.KeyHash); err != nil {
			v.Add(key+".key_hash", "%v", err)
		}
		if k.Device != "*" && !configfile.IsName(k.Device) {
			v.Add(key+".device", "%q: use \"*\" or a device name (letters, digits, '-', '_', '.')", k.Device)
		}
	}
	v.AtLeast("max_body_bytes", c.MaxBodyBytes, 256)
	v.AtLeast("max_line_bytes", c.MaxLineBytes, 256)
	if c.MaxStreamBytes != 0 && c.MaxStreamBytes < c.MaxLineBytes {
		v.Add("max_stream_bytes", "%s is smaller than max_line_bytes (%s); 0 means no limit", c.MaxStreamBytes, c.MaxLineBytes)
	}
}
