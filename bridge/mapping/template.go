package mapping

import (
	"fmt"
	"strings"
)

type levelKind uint8

const (
	levelLiteral     levelKind = iota
	levelAny                   // +: one level, ignored
	levelRest                  // #: the rest of the topic, ignored
	levelMeasurement           // {measurement}
	levelField                 // {field}
	levelTag                   // {name}
)

type level struct {
	kind levelKind
	text string // the literal, or the tag name
}

// template is a parsed topic template such as devices/{device}/sensors/{measurement}.
type template struct {
	src    string
	levels []level
}

// parseTemplate checks the syntax of a template; errors say which level is
// wrong and why.
func parseTemplate(src string) (template, error) {
	if src == "" {
		return template{}, fmt.Errorf("is empty")
	}
	parts := strings.Split(src, "/")
	t := template{src: src, levels: make([]level, 0, len(parts))}
	seen := map[string]bool{}
	for i, p := range parts {
		l, err := parseLevel(p, i == len(parts)-1)
		if err != nil {
			return template{}, fmt.Errorf("level %d %q: %w", i+1, p, err)
		}
		if l.kind >= levelMeasurement {
			key := l.text
			if l.kind == levelMeasurement {
				key = "{measurement}"
			} else if l.kind == levelField {
				key = "{field}"
			}
			if seen[key] {
				return template{}, fmt.Errorf("level %d: %s appears twice", i+1, key)
			}
			seen[key] = true
		}
		t.levels = append(t.levels, l)
	}
	return t, nil
}

func parseLevel(p string, last bool) (level, error) {
	switch {
	case p == "+":
		return level{kind: levelAny}, nil
	case p == "#":
		if !last {
			return level{}, fmt.Errorf("# must be the last level")
		}
		return level{kind: levelRest}, nil
	case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
		name := p[1 : len(p)-1]
		switch {
		case name == "measurement":
			return level{kind: levelMeasurement}, nil
		case name == "field":
			return level{kind: levelField}, nil
		case name == "time":
			return level{}, fmt.Errorf("InfluxDB refuses a tag named time")
		case !validPlaceholder(name):
			return level{}, fmt.Errorf("a capture name may use only letters, digits, '_', '-' and '.'")
		}
		return level{kind: levelTag, text: name}, nil
	case strings.ContainsAny(p, "+#{}"):
		return level{}, fmt.Errorf("+, #, { and } must each be a whole level ({name}, + or #)")
	}
	if prob, at := nameProblem(p); prob != "" && p != "" {
		return level{}, fmt.Errorf("%s at byte %d", prob, at)
	}
	return level{kind: levelLiteral, text: p}, nil
}

// has reports whether the template contains a level of kind k.
func (t *template) has(k levelKind) bool {
	for _, l := range t.levels {
		if l.kind == k {
			return true
		}
	}
	return false
}

// tagNames lists the tags the template captures.
func (t *template) tagNames() []string {
	var names []string
	for _, l := range t.levels {
		if l.kind == levelTag {
			names = append(names, l.text)
		}
	}
	return names
}

// filter is the MQTT subscription filter covering every topic the template
// matches.
func (t *template) filter() string {
	var b strings.Builder
	for i, l := range t.levels {
		if i > 0 {
			b.WriteByte('/')
		}
		switch l.kind {
		case levelLiteral:
			b.WriteString(l.text)
		case levelRest:
			b.WriteByte('#')
		default:
			b.WriteByte('+')
		}
	}
	return b.String()
}

// capture is what a matching topic gave: the measurement, the field name,
// and tags appended to the caller's slice. Levels are 1-based for messages.
type capture struct {
	measurement      string
	measurementLevel int
	field            string
	fieldLevel       int
}

// match reports whether topic matches t. On a match, captured tags are
// appended to *tags; on a mismatch *tags is left as it was.
func (t *template) match(topic string, c *capture, tags *[]tag) bool {
	n0 := len(*tags)
	rest := topic
	more := true // whether rest still holds a level (an empty topic has one)
	for i, l := range t.levels {
		if l.kind == levelRest {
			return true
		}
		if !more {
			*tags = (*tags)[:n0]
			return false
		}
		var lv string
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			lv, rest = rest[:j], rest[j+1:]
		} else {
			lv, rest, more = rest, "", false
		}
		switch l.kind {
		case levelLiteral:
			if lv != l.text {
				*tags = (*tags)[:n0]
				return false
			}
		case levelMeasurement:
			c.measurement, c.measurementLevel = lv, i+1
		case levelField:
			c.field, c.fieldLevel = lv, i+1
		case levelTag:
			*tags = append(*tags, tag{key: l.text, value: lv, src: srcTopic, level: i + 1})
		}
	}
	if more {
		*tags = (*tags)[:n0]
		return false
	}
	return true
}
