package spool

import "github.com/mqflux/mqflux/internal/configfile"

// Config is the `spool:` section of the server's configuration: how much
// may wait on disk between acknowledgement and storage, and how safely.
type Config struct {
	MaxBytes     configfile.Size `yaml:"max_bytes"`
	SegmentBytes configfile.Size `yaml:"segment_bytes"`
	Durability   string          `yaml:"durability"` // write | fsync, see ParseDurability
}

// DefaultConfig is the spool Open makes of zero Options.
func DefaultConfig() Config {
	return Config{MaxBytes: DefaultMaxBytes, SegmentBytes: DefaultSegmentBytes, Durability: "write"}
}

// Validate reports every problem of c to v, keys relative to v's section.
func (c *Config) Validate(v *configfile.Validator) {
	v.OneOf("durability", c.Durability, "write", "fsync")
	v.AtLeast("max_bytes", c.MaxBytes, 1<<20)
	v.AtLeast("segment_bytes", c.SegmentBytes, 64<<10)
	if c.SegmentBytes > c.MaxBytes {
		v.Add("segment_bytes", "%s is larger than %s (%s)", c.SegmentBytes, v.Key("max_bytes"), c.MaxBytes)
	}
}

// Options are the Options of a spool with this configuration; the caller
// adds the directory and the logger.
func (c *Config) Options() (Options, error) {
	dur, err := ParseDurability(c.Durability)
	if err != nil {
		return Options{}, err
	}
	return Options{MaxBytes: int64(c.MaxBytes), SegmentBytes: int64(c.SegmentBytes), Durability: dur}, nil
}
