package dump

import (
	"fmt"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Config is the `dumps:` section of the server's configuration: one day of
// readings written to blob storage each day.
type Config struct {
	// To is the blob storage URL the days go to (file:///srv/dumps,
	// s3://bucket/prefix?region=..., gs://..., azblob://...); "" turns
	// scheduled dumps off.
	To string `yaml:"to"`
	// At is the time of day (HH:MM, in Timezone) at which the previous day
	// is dumped: late enough for stragglers to have arrived.
	At string `yaml:"at"`
	// Timezone is where a day starts and ends (an IANA name).
	Timezone string `yaml:"timezone"`
	// Measurements limits the dump to these; every measurement when empty.
	Measurements []string `yaml:"measurements"`
	// KeepDays deletes the days older than this many days from the store
	// after each dump; 0 keeps them all.
	KeepDays int `yaml:"keep_days"`
}

// DefaultConfig is off: no To.
func DefaultConfig() Config {
	return Config{At: "00:15", Timezone: "UTC", Measurements: []string{}}
}

// Enabled reports whether days are dumped on a schedule.
func (c Config) Enabled() bool { return c.To != "" }

// Validate checks the section through v.
func (c *Config) Validate(v *configfile.Validator) {
	if _, err := ParseAt(c.At); err != nil {
		v.Add("at", "%v", err)
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		v.Add("timezone", "%q is not a time zone (an IANA name such as UTC or Europe/Berlin)", c.Timezone)
	}
	v.Between("keep_days", c.KeepDays, 0, 100_000)
	if c.To != "" {
		if _, err := ParseTarget(c.To); err != nil {
			v.Add("to", "%v", err)
		}
	}
	for i, m := range c.Measurements {
		if strings.TrimSpace(m) == "" {
			v.Add(fmt.Sprintf("measurements[%d]", i), "must not be empty")
		}
	}
}

// ParseAt reads "HH:MM" as the time after midnight.
func ParseAt(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM (e.g. 00:15)", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}
