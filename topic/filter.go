package topic

import "strings"

// Pin fixes the value of one capture, for checks made on behalf of one
// device: Pin{Name: Device, Value: "pi-1"}. The zero Pin fixes nothing.
type Pin struct{ Name, Value string }

// Covers reports whether every topic the subscription filter matches also
// matches t, with the pinned capture (if any) equal to its value.
func (t *Template) Covers(filter string, pin Pin) bool {
	return t.cover(filter, pin, false)
}

// CoversPrefix reports whether the levels of prefix (a filter without a
// trailing #) are covered by as many leading levels of t, with the pinned
// capture equal to its value wherever prefix reaches it: prefix names a
// subtree of the layout, such as devices or devices/+/sensors.
func (t *Template) CoversPrefix(prefix string, pin Pin) bool {
	return prefix != "" && t.cover(prefix, pin, true)
}

func (t *Template) cover(filter string, pin Pin, prefix bool) bool {
	if pin.Name != "" && t.Index(pin.Name) < 0 {
		return false
	}
	rest, more := filter, true
	for _, l := range t.levels {
		if l.Kind == Rest {
			return true // # takes whatever the filter has left, even nothing
		}
		if !more {
			return prefix
		}
		if l.Kind == Multi {
			return !prefix && t.coverTail(rest, l, pin)
		}
		var fl string
		fl, rest, more = strings.Cut(rest, "/")
		if !coversLevel(l, fl, pin) {
			return false
		}
	}
	return !more
}

// coverTail reports whether the filter levels left in rest are covered by
// the {name+} level l and the levels after it. A filter # is never covered
// there: it also matches the parent level, which the {name+} refuses.
func (t *Template) coverTail(rest string, l Level, pin Pin) bool {
	fls := strings.Split(rest, "/")
	tail := t.levels[len(t.levels)-countAfter(t.levels, l):]
	n := len(fls) - len(tail) // the levels the {name+} takes
	if n < 1 {
		return false
	}
	for _, fl := range fls[:n] {
		if fl == "#" || fl == "" {
			return false
		}
	}
	if l.Text == pin.Name && pin.Name != "" {
		if strings.Join(fls[:n], "/") != pin.Value || strings.Contains(pin.Value, "+") {
			return false
		}
	}
	for k, tl := range tail {
		if !coversLevel(tl, fls[n+k], pin) {
			return false
		}
	}
	return true
}

// countAfter is the number of levels after the {name+} level l.
func countAfter(levels []Level, l Level) int {
	for i := range levels {
		if levels[i] == l && l.Kind == Multi {
			return len(levels) - i - 1
		}
	}
	return 0
}

// coversLevel reports whether every value the filter level fl admits is one
// the template level l admits.
func coversLevel(l Level, fl string, pin Pin) bool {
	switch {
	case fl == "#":
		return false // # reaches levels past l; only a template # admits them
	case l.Kind == Literal:
		return fl == l.Text
	case l.Kind == Capture && l.Text == pin.Name && pin.Name != "":
		return fl == pin.Value
	}
	return true // + or a literal, under a + or a capture
}
