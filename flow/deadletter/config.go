package deadletter

import "github.com/mqflux/mqflux/internal/configfile"

// Config is the `dead_letter:` section of the server's configuration.
type Config struct {
	// MaxBytes is the size past which the file is rotated (see Open).
	MaxBytes configfile.Size `yaml:"max_bytes"`
}

// DefaultConfig rotates at DefaultMaxBytes.
func DefaultConfig() Config { return Config{MaxBytes: DefaultMaxBytes} }

// Validate reports every problem of c to v, keys relative to v's section.
func (c *Config) Validate(v *configfile.Validator) {
	v.AtLeast("max_bytes", c.MaxBytes, 64<<10)
}
