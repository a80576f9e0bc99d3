package mapping

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/mqflux/mqflux/flow/ingest"
)

// reservedKey is a tag key the layout gives: a capture of a template or a
// status template, a rule's static tag or its object_tag.
type reservedKey struct {
	key  string
	from string // for messages: where the layout gives it
}

// reservedKeys lists the tag keys every rule and status rule gives. They
// are reserved across the whole layout, not per rule: InfluxDB keeps tag
// and field keys per measurement, and templates can share one (a device
// may publish to devices/pi-1/sensors/tasmota as well as tele/pi-1/SENSOR).
// The keys of own come first, so that a message names the template the
// reading matched when it gives the key.
func reservedKeys(own *rule, rules []rule, statuses []statusRule) []reservedKey {
	var out []reservedKey
	add := func(key, from string) {
		for _, have := range out {
			if have.key == key {
				return
			}
		}
		out = append(out, reservedKey{key: key, from: from})
	}
	addRule := func(r *rule) {
		for _, k := range r.tpl.Tags() {
			add(k, fmt.Sprintf("captured by template %q", r.tpl.String()))
		}
		for _, t := range r.static {
			add(t.key, fmt.Sprintf("a static tag of template %q", r.tpl.String()))
		}
		if r.objects == Points {
			add(r.objectTag, fmt.Sprintf("the object_tag of template %q", r.tpl.String()))
		}
	}
	addRule(own)
	for i := range rules {
		addRule(&rules[i])
	}
	for i := range statuses {
		for _, k := range statuses[i].tpl.Tags() {
			add(k, fmt.Sprintf("captured by status template %q", statuses[i].tpl.String()))
		}
	}
	return out
}

// shadowed returns the reserved key that key would stand for: the same
// key, or one that differs only in case or in white space and invisible
// formatting characters (Device, "device ", "de\u200bvice"). A field named
// like a tag is what InfluxQL's WHERE device='x' matches when the field
// exists, and a lookalike tag passes for the real one on a dashboard.
func (r *rule) shadowed(key string) (reservedKey, bool) {
	folded := strings.Map(dropInvisible, key) // key itself when nothing is dropped
	for _, r := range r.reserved {
		if strings.EqualFold(folded, r.key) {
			return r, true
		}
	}
	return reservedKey{}, false
}

func dropInvisible(r rune) rune {
	if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
		return -1
	}
	return r
}

// checkPayloadKeys refuses a reading whose payload gives a field key, or a
// tag key other than one already refused as a repeat, that a topic tag is
// or looks like, and a key over max_key_bytes. Every payload format and
// the readings of other inputs pass here (addRuleTags), so the rule holds
// on every path.
func (m *Mapper) checkPayloadKeys(sc *scratch, r *rule) *ingest.RejectError {
	for i := range sc.tags {
		t := &sc.tags[i]
		if t.src != srcPayload {
			continue
		}
		if rej := m.checkKey(r, "bad_tag", "tag", t.key, -1); rej != nil {
			return rej
		}
	}
	for i := range sc.fields {
		f := &sc.fields[i]
		if rej := m.checkKey(r, "bad_field", "field", f.key, f.at); rej != nil {
			return rej
		}
	}
	return nil
}

func (m *Mapper) checkKey(r *rule, reason, what, key string, at int) *ingest.RejectError {
	if len(key) > m.maxKey {
		return reject("key_too_long", "%s name%s is %d bytes (starting %.32q), max_key_bytes is %d", what, atByte(at), len(key), key, m.maxKey)
	}
	if rk, ok := r.shadowed(key); ok {
		return reject(reason, "%s %q%s would shadow tag %q (%s); a payload may not use a key the topic layout gives as a tag",
			what, key, atByte(at), rk.key, rk.from)
	}
	return nil
}

// atByte is " at byte n" for a known offset, else "".
func atByte(at int) string {
	if at < 0 {
		return ""
	}
	return fmt.Sprintf(" at byte %d", at)
}
