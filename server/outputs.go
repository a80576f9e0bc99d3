package server

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mqflux/mqflux/bridge/influxwriter"
	"github.com/mqflux/mqflux/internal/configfile"
)

// Output kinds an outputs: entry may name.
const (
	KindInfluxDB = "influxdb"
)

// outputKinds lists the kinds in the order error messages offer them.
var outputKinds = []string{KindInfluxDB}

// outputName is what an output's name may hold: it labels metrics and
// dead letters, so nothing that needs quoting.
var outputName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Output is one entry of the outputs: list: a store the spool feeds, with
// its own cursor. Kind picks the implementation; an influxdb entry takes
// the keys of the influx: section beside its own.
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

	influxwriter.Options `yaml:",inline"`
}

// DefaultOutput is what an outputs: entry holds for every key it leaves
// out: a required InfluxDB with influx:'s defaults.
func DefaultOutput() Output {
	return Output{Kind: KindInfluxDB, Required: true, Options: influxwriter.DefaultOptions()}
}

// UnmarshalYAML starts each entry from DefaultOutput, so that a key left out
// takes its default (gzip: true included) rather than the zero value, and
// refuses unknown keys as the rest of the file does.
func (o *Output) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping of keys (name, kind, url, ...), got %s", describeNode(n))
	}
	known := outputKeys()
	*o = DefaultOutput()
	type plain Output // the same fields without this method
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !known[k.Value] {
			return fmt.Errorf("%s (line %d): unknown key; known keys here: %s", k.Value, k.Line, strings.Join(sortedSet(known), ", "))
		}
		one := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: n.Content[i : i+2]}
		if err := one.Decode((*plain)(o)); err != nil {
			return fmt.Errorf("%s (line %d): %s", k.Value, k.Line, yamlMessage(err))
		}
	}
	return nil
}

// outputKeys are the keys an outputs: entry takes: its own and, through
// the inline Options, the writer's.
func outputKeys() map[string]bool {
	keys := map[string]bool{}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Output]()) {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && !f.Anonymous && name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// yamlMessage is yaml's complaint without the line it already names.
func yamlMessage(err error) string {
	msg := err.Error()
	if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if strings.HasPrefix(msg, "line ") {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return strings.TrimPrefix(msg, "yaml: ")
}

func describeNode(n *yaml.Node) string {
	if n.Kind == yaml.SequenceNode {
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// OutputList is every output readings go to, in configuration order: the
// outputs: list, or, when it is empty, the influx: section as one required
// output named "influx" (configurations from before outputs: existed).
func (c *Config) OutputList() []Output {
	if len(c.Outputs) > 0 {
		return c.Outputs
	}
	o := DefaultOutput()
	o.Name, o.Options = "influx", c.Influx
	return []Output{o}
}

// Primary is the first output: the console's charts (history) and
// field-type learning query it; Grafana is pointed at it too.
func (c *Config) Primary() Output { return c.OutputList()[0] }

// DrainTimeout is the longest drain_timeout of the outputs: a stopping
// server writes the spool for this long.
func (c *Config) DrainTimeout() (d time.Duration) {
	for _, o := range c.OutputList() {
		d = max(d, o.DrainTimeout)
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
	if c.Influx != influxwriter.DefaultOptions() {
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
	if o.Kind != KindInfluxDB {
		v.OneOf("kind", o.Kind, outputKinds...)
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
	o.Options.Validate(v)
}
