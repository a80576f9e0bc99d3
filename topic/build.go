package topic

import (
	"fmt"
	"strings"
)

// Build fills {device} and {measurement} to give the topic a device
// publishes to. A template with any other wildcard or capture cannot be
// built; a measurement must be given exactly when the template has a
// {measurement} level. Values must be single, non-empty topic levels.
func (t *Template) Build(device, measurement string) (string, error) {
	if measurement != "" && !t.Has(Measurement) {
		return "", fmt.Errorf("template %s has no {measurement} level for %q", t.src, measurement)
	}
	var b strings.Builder
	b.Grow(len(t.src) + len(device) + len(measurement))
	for i, l := range t.levels {
		if i > 0 {
			b.WriteByte('/')
		}
		var v string
		switch {
		case l.Kind == Literal:
			b.WriteString(l.Text)
			continue
		case l.Kind == Capture && l.Text == Device:
			v = device
		case l.Kind == Measurement:
			v = measurement
		default:
			return "", fmt.Errorf("template %s: level %d %s cannot be filled from a device and a measurement", t.src, i+1, levelText(l))
		}
		if err := checkValue(v); err != nil {
			return "", fmt.Errorf("template %s: level %d %s: %w", t.src, i+1, levelText(l), err)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// CanBuild reports whether Build can fill every level of t: its only
// captures are {device} and, if present, {measurement}.
func (t *Template) CanBuild() bool {
	for _, l := range t.levels {
		if l.Kind != Literal && !(l.Kind == Capture && l.Text == Device) && l.Kind != Measurement {
			return false
		}
	}
	return t.Index(Device) >= 0
}

func checkValue(v string) error {
	if v == "" {
		return fmt.Errorf("is empty")
	}
	if i := strings.IndexAny(v, "/+#"); i >= 0 {
		return fmt.Errorf("%q has %q at byte %d, which would change the topic's levels", v, v[i], i)
	}
	if prob, at := levelProblem(v); prob != "" {
		return fmt.Errorf("%q %s at byte %d", v, prob, at)
	}
	return nil
}

func levelText(l Level) string {
	switch l.Kind {
	case Any:
		return "+"
	case Rest:
		return "#"
	case Measurement:
		return "{measurement}"
	case Field:
		return "{field}"
	case Capture:
		return "{" + l.Text + "}"
	case Multi:
		return "{" + l.Text + "+}"
	}
	return l.Text
}
