package server

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/configfile"
)

// DefaultOutputKind is the kind of an outputs: entry that names none, and
// of the influx: section: the first kind mqflux had.
const DefaultOutputKind = "influxdb"

// outputName is what an output's name may hold: it labels metrics and
// dead letters, so nothing that needs quoting.
var outputName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Output is one entry of the outputs: list: a store the spool feeds, with
// its own cursor. The server owns the keys every entry has; Kind names a
// registered kind of output (output.Register), which owns every other key
// of the entry through its Config.
type Output struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Required: a reading leaves the spool only once every required output
	// has it. An entry is required unless it says otherwise, so that
	// forgetting the key never loses a reading.
	Required bool `yaml:"required"`
	// MaxLag is how far an optional output may fall behind, in spool bytes,
	// before it skips ahead; 0 takes the default (see maxLag).
	MaxLag configfile.Size `yaml:"max_lag"`

	// Config is the kind's own keys, decoded into its DefaultConfig.
	Config output.Config `yaml:"-"`
}

// String shows the entry with its kind's keys, for check-config -print.
func (o Output) String() string {
	return fmt.Sprintf("{name:%s kind:%s required:%t max_lag:%s %+v}", o.Name, o.Kind, o.Required, o.MaxLag, o.Config)
}

// SetDefaults is where every entry starts: required, of the first kind,
// so that forgetting a key never loses a reading.
func (o *Output) SetDefaults() { *o = Output{Kind: DefaultOutputKind, Required: true} }

// Extension is where the entry's keys other than the common ones go: its
// kind's Config, holding the kind's defaults. The loader decodes them
// strictly, an unknown key refused with its line and key path.
func (o *Output) Extension() (any, error) {
	kind, ok := output.Lookup(o.Kind)
	if !ok {
		return nil, configfile.KeyError("kind", "%q is not an output kind; known kinds: %s", o.Kind, strings.Join(output.Kinds(), ", "))
	}
	o.Config = kind.DefaultConfig()
	return o.Config, nil
}

// OutputList is every output readings go to, in configuration order: the
// outputs: list, or, when it is empty, the influx: section as one required
// output named "influx" (configurations from before outputs: existed).
func (c *Config) OutputList() []Output {
	if len(c.Outputs) > 0 {
		return c.Outputs
	}
	opts := c.Influx
	return []Output{{Name: "influx", Kind: DefaultOutputKind, Required: true, Config: &opts}}
}

// Primary is the first output: the console's charts (history) and
// field-type learning query it when it answers InfluxQL; Grafana is
// pointed at it too.
func (c *Config) Primary() Output { return c.OutputList()[0] }

// DrainTimeout is the longest drain_timeout of the outputs: a stopping
// server writes the spool for this long.
func (c *Config) DrainTimeout() (d time.Duration) {
	for _, o := range c.OutputList() {
		d = max(d, output.FeedOf(o.Config).DrainTimeout)
	}
	return d
}

// validateOutputs checks the outputs: list and its relation to influx: and
// spool:. influx: at its defaults beside outputs: is taken as absent (the
// shipped config.yaml shows it so); changed, it is an error, so that a
// setting never silently stops applying.
func (c *Config) validateOutputs(v *configfile.Validator) {
	if len(c.Outputs) == 0 {
		c.Influx.Validate(v.Section("influx"))
		return
	}
	if c.Influx != DefaultConfig().Influx {
		v.Add("influx", "set beside outputs; give the InfluxDB as an outputs entry (kind: influxdb) and remove influx, or remove outputs")
	}
	list := v.Section("outputs")
	seen := map[string]int{}
	required := false
	for i := range c.Outputs {
		o := &c.Outputs[i]
		ov := list.Section(fmt.Sprintf("[%d]", i))
		if j, dup := seen[o.Name]; dup && o.Name != "" {
			ov.Add("name", "%q is also %s", o.Name, list.Key(fmt.Sprintf("[%d]", j)))
		}
		seen[o.Name] = i
		required = required || o.Required
		o.validate(ov, c.Spool.MaxBytes, v.Key("spool.max_bytes"))
	}
	if !required {
		list.Add("", "no output is required: at least one must keep readings in the spool until it has them (required: true)")
	}
}

func (o *Output) validate(v *configfile.Validator, spoolMax configfile.Size, spoolKey string) {
	if !outputName.MatchString(o.Name) {
		v.Add("name", "%q: want 1 to 32 of a-z, 0-9, _ and -", o.Name)
	}
	if _, known := output.Lookup(o.Kind); !known || o.Config == nil {
		v.OneOf("kind", o.Kind, output.Kinds()...)
		return // the other keys mean nothing for an unknown kind
	}
	switch {
	case o.MaxLag != 0 && o.Required:
		v.Add("max_lag", "only an optional output (required: false) skips ahead; a required one holds the spool")
	case o.MaxLag != 0 && o.MaxLag >= spoolMax:
		v.Add("max_lag", "%s must be below %s (%s), or the spool fills before the output skips ahead", o.MaxLag, spoolKey, spoolMax)
	case o.MaxLag != 0:
		v.AtLeast("max_lag", o.MaxLag, 1<<20)
	}
	o.Config.Validate(v)
}
