// Package hostlogs forwards the log lines of the device's host: journald
// through `journalctl -o json -f` (no cgo) and plain files followed by
// name as `tail -F` does. Lines are limited to max_per_second (the excess
// counted and reported as a line of its own), stamped, and appended to a
// bounded queue on disk of their own, separate from the readings', that
// drops its oldest lines under pressure (counted and reported likewise).
// Where each source stopped (the journal's cursor, each file's inode and
// offset) is kept in a state file beside that queue, so a restart neither
// loses nor repeats lines.
package hostlogs

import (
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/topic"
)

// Config is `device.logs:`.
type Config struct {
	// Topic is a template of the server's layout, {device} being the
	// device's id (the server's mapping.logs_template).
	Topic        string          `yaml:"topic"`
	Journal      Journal         `yaml:"journal"`
	Files        []File          `yaml:"files"`
	MaxLine      configfile.Size `yaml:"max_line"`
	MaxPerSecond int             `yaml:"max_per_second"`
	Queue        Queue           `yaml:"queue"`
}

// Journal is journald, read through journalctl.
type Journal struct {
	Enabled bool     `yaml:"enabled"`
	Units   []string `yaml:"units"` // journalctl --unit; none: every unit
	// Priority is the least severe level forwarded (journalctl
	// --priority): emerg, alert, crit, err, warning, notice, info, debug.
	Priority string `yaml:"priority"`
	Command  string `yaml:"command"` // the journalctl binary
}

// File is one followed file.
type File struct {
	Path  string `yaml:"path"`
	Unit  string `yaml:"unit"`  // "" means the file's base name
	Level string `yaml:"level"` // "" leaves the level out
}

// Queue is the log lines' own queue on the SD card.
type Queue struct {
	Dir      string          `yaml:"dir"` // "" means device.queue.dir + ".logs"
	MaxBytes configfile.Size `yaml:"max_bytes"`
}

// Levels are journald's priorities, most severe first; a line's level is
// one of them.
var Levels = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// Default is the section with nothing set: nothing forwarded.
func Default() Config {
	return Config{
		Topic:        topic.DefaultLogs,
		Journal:      Journal{Units: []string{}, Priority: "warning", Command: "journalctl"},
		Files:        []File{},
		MaxLine:      2 << 10,
		MaxPerSecond: 20,
		Queue:        Queue{MaxBytes: 8 << 20},
	}
}

// Enabled says whether any source is configured.
func (c *Config) Enabled() bool { return c.Journal.Enabled || len(c.Files) > 0 }

// MaxLineLimit is the longest max_line: the server's default
// mapping.max_string_bytes, which a longer message would exceed.
const MaxLineLimit = 4 << 10

// Validate reports problems under v (the device.logs section).
func (c *Config) Validate(v *configfile.Validator) {
	if c.MaxLine < 64 || c.MaxLine > MaxLineLimit {
		v.Add("max_line", "%s: want 64B to 4KiB (the server's mapping.max_string_bytes)", c.MaxLine)
	}
	v.Between("max_per_second", c.MaxPerSecond, 1, 10000)
	v.AtLeast("queue.max_bytes", c.Queue.MaxBytes, 64<<10)
	if c.Journal.Enabled {
		if !validPriority(c.Journal.Priority) {
			v.Add("journal.priority", "%q: use one of %s or 0 to 7", c.Journal.Priority, strings.Join(Levels, ", "))
		}
		if strings.TrimSpace(c.Journal.Command) == "" {
			v.Add("journal.command", "must not be empty")
		}
		for i, u := range c.Journal.Units {
			if u == "" || strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
				v.Add("journal.units", "entry %d %q: a unit name has no spaces or control characters", i, u)
			}
		}
	}
	seen := map[string]bool{}
	for i, f := range c.Files {
		key := "files[" + itoa(i) + "]"
		switch {
		case !strings.HasPrefix(f.Path, "/"):
			v.Add(key+".path", "%q: want an absolute path", f.Path)
		case seen[f.Path]:
			v.Add(key+".path", "%q is followed twice", f.Path)
		}
		seen[f.Path] = true
		if f.Unit != "" && !configfile.IsName(f.Unit) {
			v.Add(key+".unit", "%q: use letters, digits, '-', '_', '.' (it is a tag value)", f.Unit)
		}
		if f.Level != "" {
			v.OneOf(key+".level", f.Level, Levels...)
		}
	}
}

func validPriority(p string) bool {
	if len(p) == 1 && p[0] >= '0' && p[0] <= '7' {
		return true
	}
	for _, l := range Levels {
		if p == l {
			return true
		}
	}
	return false
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// pollInterval is how often a followed file is looked at: a quarter of a
// second costs a stat and a read of nothing on an idle file.
const pollInterval = 250 * time.Millisecond
