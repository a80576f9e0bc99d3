package mapping

import (
	"fmt"
	"strings"

	"github.com/mqflux/mqflux/topic"
)

// Templates is the topic layout the mapping reads: every rule's template
// in configuration order, then the status template if presence is on. The
// broker's ACL is drawn from it, so a changed layout needs no ACL edit.
func (m *Mapper) Templates() []topic.Template {
	out := make([]topic.Template, 0, len(m.rules)+len(m.statuses))
	for i := range m.rules {
		out = append(out, m.rules[i].tpl)
	}
	for i := range m.statuses {
		out = append(out, m.statuses[i].tpl)
	}
	return out
}

// ReadingTopic is the topic under which a reading of device and
// measurement is mapped as such: the topic of the first template that can
// be built from the two (literals, {device}, {measurement}; no other
// capture, + or #; not format line) and that, built, is mapped by that same
// template and not taken for presence. Inputs that are not MQTT clients,
// such as the legacy HTTP API, publish their readings there.
func (m *Mapper) ReadingTopic(device, measurement string) (string, error) {
	var built error
	for i := range m.rules {
		r := &m.rules[i]
		if r.line || r.ignore || !r.tpl.Has(topic.Measurement) || !r.tpl.CanBuild() {
			continue
		}
		name, err := r.tpl.Build(device, measurement)
		if err != nil {
			built = err
			continue
		}
		if m.mapsAs(name, r) {
			return name, nil
		}
	}
	if built != nil {
		return "", fmt.Errorf("device %q, measurement %q: %w", device, measurement, built)
	}
	return "", fmt.Errorf("no template in mapping.topics gives device %q and measurement %q a topic that it maps as a reading "+
		"(a template needs {device} and {measurement}, no other capture, + or #, and format auto)", device, measurement)
}

// mapsAs reports whether name is mapped by rule r: no earlier rule and not
// the status template takes it first.
func (m *Mapper) mapsAs(name string, r *rule) bool {
	sc := m.pool.Get().(*scratch)
	defer m.pool.Put(sc)
	sc.reset()
	var c capture
	if m.findStatus(name, &c, sc) != nil {
		return false
	}
	return m.findRule(name, &c, sc) == r
}

// DeviceOf names the device a topic belongs to by the layout: the {device}
// level of the first template whose levels up to {device} the topic
// follows, even where the rest of the topic does not fit (a rejected
// reading's topic often does not). Failing that, the first level, so that a
// topic outside the layout still has a name to be counted under; "unknown"
// for an empty one.
func (m *Mapper) DeviceOf(name string) string {
	for _, t := range m.Templates() {
		if d, ok := deviceLevel(&t, name); ok {
			return d
		}
	}
	first, _, _ := strings.Cut(name, "/")
	if first == "" {
		return "unknown"
	}
	return first
}

// deviceLevel is the value of t's {device} level in name, if name follows
// t's levels up to it.
func deviceLevel(t *topic.Template, name string) (string, bool) {
	if i := t.Index(topic.Device); i >= 0 && t.Levels()[i].Kind == topic.Multi {
		var buf [16]string
		vals, ok := t.Match(name, buf[:0])
		if ok && i < len(vals) {
			return vals[i], true
		}
		return "", false
	}
	rest := name
	for _, l := range t.Levels() {
		lv, after, more := strings.Cut(rest, "/")
		switch {
		case l.Kind == topic.Rest:
			return "", false
		case l.Kind == topic.Literal && lv != l.Text:
			return "", false
		case l.Kind == topic.Capture && l.Text == topic.Device:
			return lv, lv != ""
		}
		if !more {
			return "", false
		}
		rest = after
	}
	return "", false
}
