// Package topic owns the topic layout: it parses topic templates such as
// devices/{device}/sensors/{measurement}, matches topic names and
// subscription filters against them, and builds the topic of a device's
// reading. The mapping, the broker's ACL, the legacy HTTP API and the device
// agent all go through it, so a layout is written down once, in the
// mapping's configuration. It uses the standard library only, so that the
// device agent can link it.
package topic

import (
	"fmt"
	"strings"

	"github.com/mqflux/mqflux/internal/names"
)

// The layout used when nothing else is configured.
const (
	// DefaultReadings is where a device publishes its readings.
	DefaultReadings = "devices/{device}/sensors/{measurement}"
	// DefaultStatus is where a device publishes its presence.
	DefaultStatus = "devices/{device}/status"
	// DefaultLogs is where a device publishes its host's log lines.
	DefaultLogs = "devices/{device}/logs"
	// DefaultDiscovery is where a device retains its Home Assistant
	// discovery configs (homeassistant/sensor/<device>/<object>/config).
	DefaultDiscovery = "homeassistant/+/{device}/+/config"
	// Device is the capture that names the device, and so the broker user
	// a device role may publish as.
	Device = "device"
)

// Kind is what a template level matches and captures.
type Kind uint8

// The kinds of level.
const (
	Literal     Kind = iota // exactly its text
	Any                     // +: one level, not captured
	Rest                    // #: the rest of the topic, last level only
	Measurement             // {measurement}
	Field                   // {field}
	Capture                 // {name}: one level, captured as tag name
	Multi                   // {name+}: one or more levels, captured whole as tag name
)

// captures reports whether the level captures its value.
func (k Kind) captures() bool { return k >= Measurement }

// Named reports whether the level captures a tag: {name} or {name+}.
func (k Kind) Named() bool { return k == Capture || k == Multi }

// Level is one level of a template.
type Level struct {
	Kind Kind
	Text string // the literal of a Literal, the name of a Capture
}

// Template is a parsed topic template. The zero value matches nothing.
type Template struct {
	src    string
	levels []Level
}

// Parse checks the syntax of a template; errors say which level is wrong
// and why.
func Parse(src string) (Template, error) {
	if src == "" {
		return Template{}, fmt.Errorf("is empty")
	}
	parts := strings.Split(src, "/")
	t := Template{src: src, levels: make([]Level, 0, len(parts))}
	seen := map[string]bool{}
	multi := false
	for i, p := range parts {
		l, err := parseLevel(p, i == len(parts)-1)
		if err != nil {
			return Template{}, fmt.Errorf("level %d %q: %w", i+1, p, err)
		}
		if l.Kind.captures() {
			key := l.Text
			switch l.Kind {
			case Measurement:
				key = "{measurement}"
			case Field:
				key = "{field}"
			}
			if seen[key] {
				return Template{}, fmt.Errorf("level %d: %s appears twice", i+1, key)
			}
			seen[key] = true
		}
		if l.Kind == Multi || l.Kind == Rest {
			// Two levels of any length would make a topic's split ambiguous.
			if multi {
				return Template{}, fmt.Errorf("level %d: a template may have only one {name+} or #, and not both", i+1)
			}
			multi = true
		}
		t.levels = append(t.levels, l)
	}
	return t, nil
}

// MustParse is Parse for templates known to be valid, such as the defaults.
func MustParse(src string) Template {
	t, err := Parse(src)
	if err != nil {
		panic(fmt.Sprintf("topic template %q: %v", src, err))
	}
	return t
}

func parseLevel(p string, last bool) (Level, error) {
	switch {
	case p == "+":
		return Level{Kind: Any}, nil
	case p == "#":
		if !last {
			return Level{}, fmt.Errorf("# must be the last level")
		}
		return Level{Kind: Rest}, nil
	case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
		name := p[1 : len(p)-1]
		kind := Capture
		if strings.HasSuffix(name, "+") {
			name, kind = name[:len(name)-1], Multi
		}
		switch {
		case kind == Multi && (name == "measurement" || name == "field"):
			return Level{}, fmt.Errorf("{%s+} is not allowed: measurement and field names are single levels", name)
		case name == "measurement":
			return Level{Kind: Measurement}, nil
		case name == "field":
			return Level{Kind: Field}, nil
		case name == "time":
			return Level{}, fmt.Errorf("InfluxDB refuses a tag named time")
		case !validCaptureName(name):
			return Level{}, fmt.Errorf("a capture name may use only letters, digits, '_', '-' and '.'")
		}
		return Level{Kind: kind, Text: name}, nil
	case strings.ContainsAny(p, "+#{}"):
		return Level{}, fmt.Errorf("+, #, { and } must each be a whole level ({name}, + or #)")
	}
	if prob, at := levelProblem(p); prob != "" {
		return Level{}, fmt.Errorf("%s at byte %d", prob, at)
	}
	return Level{Kind: Literal, Text: p}, nil
}

// validCaptureName keeps capture names (and so tag keys) short, plain and
// unambiguous in config files and metrics.
func validCaptureName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || c == '-' || c == '.' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// levelProblem says why s cannot be a level of a topic name, and at which
// byte; "" when it can. Control characters are refused with NUL: no client
// types them into a topic on purpose.
func levelProblem(s string) (string, int) {
	return names.Problem(s, names.Control)
}

// String is the template as written.
func (t *Template) String() string { return t.src }

// Levels are the template's levels, in order. The slice is shared: do not
// change it.
func (t *Template) Levels() []Level { return t.levels }

// Has reports whether the template has a level of kind k.
func (t *Template) Has(k Kind) bool {
	for _, l := range t.levels {
		if l.Kind == k {
			return true
		}
	}
	return false
}

// Index is the position of the capture {name} or {name+}, or -1.
func (t *Template) Index(name string) int {
	for i, l := range t.levels {
		if l.Kind.Named() && l.Text == name {
			return i
		}
	}
	return -1
}

// Tags lists the names of the {name} and {name+} captures, which become
// tags.
func (t *Template) Tags() []string {
	var names []string
	for _, l := range t.levels {
		if l.Kind.Named() {
			names = append(names, l.Text)
		}
	}
	return names
}

// Filter is the MQTT subscription filter covering every topic the template
// matches: captures become +, and a {name+} becomes # (MQTT has no
// wildcard for "some levels" in the middle of a filter).
func (t *Template) Filter() string {
	var b strings.Builder
	for i, l := range t.levels {
		if i > 0 {
			b.WriteByte('/')
		}
		switch l.Kind {
		case Literal:
			b.WriteString(l.Text)
		case Rest, Multi:
			b.WriteByte('#')
			return b.String()
		default:
			b.WriteByte('+')
		}
	}
	return b.String()
}
