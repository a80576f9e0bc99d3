package topic

import "strings"

// Match reports whether the topic name matches t. On a match it appends to
// dst the value of each level of name that t's levels before a # cover, so
// that the value of t.Levels()[i] is at index len(dst)+i; a {name+} level's
// value is the levels it took, joined by '/'. On a mismatch dst comes back
// as it was. With a dst of enough capacity it does not allocate.
func (t *Template) Match(name string, dst []string) ([]string, bool) {
	n0 := len(dst)
	rest := name
	more := true // whether rest still holds a level (an empty name has one)
	for i, l := range t.levels {
		if l.Kind == Rest {
			return dst, true
		}
		if !more {
			return dst[:n0], false
		}
		if l.Kind == Multi {
			var ok bool
			if dst, ok = t.matchTail(rest, i, dst); !ok {
				return dst[:n0], false
			}
			return dst, true
		}
		var lv string
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			lv, rest = rest[:j], rest[j+1:]
		} else {
			lv, rest, more = rest, "", false
		}
		if l.Kind == Literal && lv != l.Text {
			return dst[:n0], false
		}
		dst = append(dst, lv)
	}
	if more {
		return dst[:n0], false
	}
	return dst, true
}

// matchTail matches rest against the levels from the {name+} at index at
// to the end: the levels after it are taken from the end of rest, and the
// {name+} takes what lies between, at least one non-empty level.
func (t *Template) matchTail(rest string, at int, dst []string) ([]string, bool) {
	tail := t.levels[at+1:]
	base := len(dst)
	for range t.levels[at:] {
		dst = append(dst, "")
	}
	for k := len(tail) - 1; k >= 0; k-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return dst, false // the {name+} would be left nothing
		}
		lv := rest[j+1:]
		if tail[k].Kind == Literal && lv != tail[k].Text {
			return dst, false
		}
		dst[base+1+k] = lv
		rest = rest[:j]
	}
	if rest == "" {
		return dst, false
	}
	dst[base] = rest
	return dst, true
}

// Matches reports whether the topic name matches t.
func (t *Template) Matches(name string) bool {
	var buf [16]string
	_, ok := t.Match(name, buf[:0])
	return ok
}

// MatchAs reports whether the topic name matches t with the capture pin.Name
// equal to pin.Value. A template without that capture never matches.
func (t *Template) MatchAs(name string, pin Pin) bool {
	i := t.Index(pin.Name)
	if i < 0 {
		return false
	}
	var buf [16]string
	vals, ok := t.Match(name, buf[:0])
	return ok && i < len(vals) && vals[i] == pin.Value
}

// MatchFilter reports whether an MQTT topic name matches a topic filter
// with + and # wildcards. Topics starting with $ never match a filter
// starting with a wildcard (MQTT-4.7.2-1).
func MatchFilter(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(name, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a" (the parent level).
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, name = frest, trest
	}
}
