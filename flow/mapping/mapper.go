// Package mapping turns one MQTT message (topic, payload, receive time) into
// InfluxDB line protocol: the topic template gives the measurement and tags,
// the payload (a bare number, JSON, or line protocol) gives fields, tags and
// time. Every message either becomes points or a *ingest.RejectError saying
// what is wrong and where.
package mapping

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
	"github.com/mqflux/mqflux/topic"
)

// Mapper maps messages to line protocol. It is safe for concurrent use.
type Mapper struct {
	rules      []rule
	statuses   []statusRule // none: presence disabled
	loc        *time.Location
	maxPayload int
	maxFields  int
	maxTags    int
	maxString  int
	maxDepth   int
	maxKey     int
	pool       sync.Pool // *scratch
}

type rule struct {
	tpl         topic.Template
	line        bool
	measurement string // fixed measurement when the template has none
	static      []tag
	precExp     int // payload epoch × 10^precExp = nanoseconds
	ignore      bool
	text        bool   // a payload that is no number or JSON is a string
	objects     string // Refuse, Flatten or Points
	objectTag   string
	sep         string
	index       bool // arrays indexed rather than refused
	skipNulls   bool
	timeKey     string
	root        string
	reserved    []reservedKey // tag keys the layout gives; a payload may not use them
	batch       bool          // a JSON array of objects is a point each (the logs template)
}

// StatusMeasurement is the measurement presence messages are written to.
const StatusMeasurement = "device_status"

// New checks cfg and builds a Mapper. Errors name the config key at fault.
func New(cfg Config) (*Mapper, error) {
	m := &Mapper{
		maxPayload: cfg.MaxPayloadBytes,
		maxFields:  cfg.MaxFields,
		maxTags:    cfg.MaxTags,
		maxString:  cfg.MaxStringBytes,
		maxDepth:   cfg.MaxDepth,
		maxKey:     cfg.MaxKeyBytes,
	}
	m.pool.New = newScratch
	for _, l := range []struct {
		key string
		v   int
	}{
		{"max_payload_bytes", cfg.MaxPayloadBytes}, {"max_fields", cfg.MaxFields},
		{"max_tags", cfg.MaxTags}, {"max_string_bytes", cfg.MaxStringBytes},
		{"max_depth", cfg.MaxDepth}, {"max_key_bytes", cfg.MaxKeyBytes},
	} {
		if l.v <= 0 {
			return nil, fmt.Errorf("mapping.%s: must be positive, got %d", l.key, l.v)
		}
	}
	if cfg.MaxDepth > jsonMaxDepth {
		return nil, fmt.Errorf("mapping.max_depth: at most %d (what encoding/json reads), got %d", jsonMaxDepth, cfg.MaxDepth)
	}
	var err error
	prec, ok := precisionExp(cfg.TimePrecision)
	if !ok {
		return nil, fmt.Errorf("mapping.time_precision: %q is not one of s, ms, us, ns", cfg.TimePrecision)
	}
	if len(cfg.Topics) == 0 {
		return nil, fmt.Errorf("mapping.topics: needs at least one template")
	}
	if m.loc, err = loadZone(cfg.Timezone); err != nil {
		return nil, fmt.Errorf("mapping.timezone: %w", err)
	}
	topics, statuses, err := withPresets(cfg)
	if err != nil {
		return nil, err
	}
	for i, tr := range topics {
		r, err := newRule(tr, prec, cfg.MaxTags)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", topicKey(i, len(cfg.Topics), cfg.Presets), err)
		}
		m.rules = append(m.rules, r)
	}
	for i, sr := range statuses {
		st, err := newStatusRule(sr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", statusKey(i, cfg), err)
		}
		m.statuses = append(m.statuses, st)
	}
	if cfg.LogsTemplate != "" { // withPresets put it last
		m.rules[len(m.rules)-1].batch = true
	}
	for i := range m.rules {
		m.rules[i].reserved = reservedKeys(&m.rules[i], m.rules, m.statuses)
	}
	return m, nil
}

// statusKey names the configuration key of status rule i: the
// status_template, a status_templates entry or a preset's.
func statusKey(i int, cfg Config) string {
	if cfg.StatusTemplate != "" {
		if i == 0 {
			return "mapping.status_template"
		}
		i--
	}
	if i < len(cfg.StatusTemplates) {
		return fmt.Sprintf("mapping.status_templates[%d]", i)
	}
	return "mapping.presets"
}

// topicKey names the configuration key of rule i, of which the first n are
// from mapping.topics.
func topicKey(i, n int, presets []string) string {
	if i < n {
		return fmt.Sprintf("mapping.topics[%d]", i)
	}
	return fmt.Sprintf("mapping.presets (rule %d)", i-n)
}

func newStatusTemplate(src string) (topic.Template, error) {
	t, err := parseTemplate(src)
	if err != nil {
		return topic.Template{}, err
	}
	if t.Has(topic.Measurement) || t.Has(topic.Field) {
		return topic.Template{}, fmt.Errorf("{measurement} and {field} have no meaning here (presence goes to %s)", StatusMeasurement)
	}
	if t.Index(topic.Device) < 0 {
		return topic.Template{}, fmt.Errorf("must capture {device}")
	}
	return t, nil
}

// newRule checks one topics entry; errors start with the key at fault
// relative to the entry.
func newRule(tr TopicRule, prec, maxTags int) (rule, error) {
	t, err := parseTemplate(tr.Template)
	if err != nil {
		return rule{}, fmt.Errorf("template: %w", err)
	}
	r := rule{tpl: t, measurement: tr.Measurement, precExp: prec, ignore: tr.Ignore,
		objectTag: tr.ObjectTag, sep: tr.Separator, timeKey: tr.TimeKey, root: tr.Root}
	if err := r.setShapes(tr); err != nil {
		return rule{}, err
	}
	if r.ignore {
		return r, nil
	}
	switch tr.Format {
	case "", FormatAuto:
	case FormatLine:
		r.line = true
	case FormatText:
		r.text = true
	default:
		return rule{}, fmt.Errorf("format: %q is not one of auto, line, text", tr.Format)
	}
	if tr.TimePrecision != "" {
		if r.precExp, err = ruleExp(tr.TimePrecision); err != nil {
			return rule{}, err
		}
	}
	if err := r.checkMeasurement(); err != nil {
		return rule{}, err
	}
	captured := map[string]bool{}
	for _, n := range t.Tags() {
		captured[n] = true
	}
	if r.objects == Points {
		if err := checkStaticTag(r.objectTag, "x", captured); err != nil {
			return rule{}, fmt.Errorf("object_tag: %w", err)
		}
		if _, clash := tr.Tags[r.objectTag]; clash {
			return rule{}, fmt.Errorf("object_tag: %q is also one of the rule's tags", r.objectTag)
		}
	}
	for k, v := range tr.Tags {
		if err := checkStaticTag(k, v, captured); err != nil {
			return rule{}, fmt.Errorf("tags.%s: %w", k, err)
		}
		r.static = append(r.static, tag{key: k, value: v, src: srcStatic})
	}
	sortTags(r.static)
	if n := len(captured) + len(r.static); n > maxTags {
		return rule{}, fmt.Errorf("tags: the template and tags give %d tags but max_tags is %d", n, maxTags)
	}
	return r, nil
}

func ruleExp(p string) (int, error) {
	e, ok := precisionExp(p)
	if !ok {
		return 0, fmt.Errorf("time_precision: %q is not one of s, ms, us, ns", p)
	}
	return e, nil
}

func (r *rule) checkMeasurement() error {
	hasMeas := r.tpl.Has(topic.Measurement)
	switch {
	case r.line && (hasMeas || r.tpl.Has(topic.Field) || r.measurement != ""):
		return fmt.Errorf("template: with format line the payload names measurement and fields; drop {measurement}, {field} and measurement")
	case r.line:
		return nil
	case hasMeas && r.measurement != "":
		return fmt.Errorf("measurement: the template already captures {measurement}")
	case !hasMeas && r.measurement == "":
		return fmt.Errorf("measurement: required when the template has no {measurement} level")
	case r.measurement == StatusMeasurement:
		return fmt.Errorf("measurement: %q is written only by the status template", StatusMeasurement)
	case !hasMeas:
		if prob, at := nameProblem(r.measurement); prob != "" {
			return fmt.Errorf("measurement: %q %s at byte %d", r.measurement, prob, at)
		}
		if r.measurement[0] == '#' {
			return fmt.Errorf("measurement: %q starts with '#', which line protocol reads as a comment", r.measurement)
		}
	}
	return nil
}

func checkStaticTag(k, v string, captured map[string]bool) error {
	if prob, at := nameProblem(k); prob != "" {
		return fmt.Errorf("key %s at byte %d", prob, at)
	}
	if prob, at := nameProblem(v); prob != "" {
		return fmt.Errorf("value %q %s at byte %d", v, prob, at)
	}
	if k == "time" {
		return fmt.Errorf("InfluxDB refuses a tag named time")
	}
	if captured[k] {
		return fmt.Errorf("the template already captures {%s}", k)
	}
	return nil
}

// precisionExp gives the power of ten that turns an epoch in precision p
// into nanoseconds.
func precisionExp(p string) (int, bool) {
	switch p {
	case "s":
		return 9, true
	case "ms":
		return 6, true
	case "us":
		return 3, true
	case "ns":
		return 0, true
	}
	return 0, false
}

// setShapes reads the options for nested values, nulls and the time.
func (r *rule) setShapes(tr TopicRule) error {
	r.objects = tr.Objects
	switch tr.Objects {
	case "":
		r.objects = Refuse
	case Refuse, Flatten, Points:
	default:
		return fmt.Errorf("objects: %q is not one of refuse, flatten, points", tr.Objects)
	}
	if r.objects == Points && r.objectTag == "" {
		r.objectTag = "sensor"
	}
	switch tr.Arrays {
	case "", Refuse:
	case Index:
		r.index = true
	default:
		return fmt.Errorf("arrays: %q is not one of refuse, index", tr.Arrays)
	}
	switch tr.Nulls {
	case "", Refuse:
	case Skip:
		r.skipNulls = true
	default:
		return fmt.Errorf("nulls: %q is not one of refuse, skip", tr.Nulls)
	}
	if r.sep == "" {
		r.sep = "_"
	}
	if prob, at := nameProblem(r.sep); prob != "" {
		return fmt.Errorf("separator: %q %s at byte %d", r.sep, prob, at)
	}
	if r.timeKey == "" {
		r.timeKey = "time"
	}
	if r.timeKey == "tags" || r.timeKey == "fields" || (r.root != "" && r.root == r.timeKey) {
		return fmt.Errorf("time_key: %q is taken", r.timeKey)
	}
	return nil
}

// Filters returns the MQTT subscription filters that cover every template
// and the status template, without duplicates, in configuration order.
func (m *Mapper) Filters() []string {
	var out []string
	add := func(f string) {
		for _, have := range out {
			if have == f {
				return
			}
		}
		out = append(out, f)
	}
	for i := range m.rules {
		add(m.rules[i].tpl.Filter())
	}
	for i := range m.statuses {
		add(m.statuses[i].tpl.Filter())
	}
	return out
}

// Append decodes one message and appends its point(s) as line protocol, each
// line terminated by '\n', timestamps in nanoseconds, to dst. On error dst is
// returned unchanged (same length) and the error is a *ingest.RejectError.
// A reading without its own time is stamped with received.
func (m *Mapper) Append(dst []byte, topic string, payload []byte, received time.Time) ([]byte, error) {
	return m.AppendPoints(dst, nil, topic, payload, received)
}

// AppendPoints is Append that also adds every point it writes to pts (when
// not nil) as a value, for whatever watches readings after the spool took
// them. On error what pts holds means nothing.
func (m *Mapper) AppendPoints(dst []byte, pts *point.Set, topic string, payload []byte, received time.Time) ([]byte, error) {
	sc := m.pool.Get().(*scratch)
	sc.reset()
	sc.pts = pts
	out, rej := m.append(sc, dst, topic, payload, received)
	m.pool.Put(sc)
	if rej != nil {
		return dst, rej
	}
	return out, nil
}

func reject(reason, format string, args ...any) *ingest.RejectError {
	return &ingest.RejectError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

func (m *Mapper) append(sc *scratch, dst []byte, topic string, payload []byte, received time.Time) ([]byte, *ingest.RejectError) {
	if rej := checkTopic(topic); rej != nil {
		return nil, rej
	}
	var c capture
	if st := m.findStatus(topic, &c, sc); st != nil {
		return m.appendStatus(sc, dst, st, topic, payload, received)
	}
	r := m.findRule(topic, &c, sc)
	if r == nil {
		return nil, reject("topic", "no template matches topic %q", topic)
	}
	if r.ignore {
		return dst, nil
	}
	if rej := r.checkCaptures(topic, &c, sc.caps); rej != nil {
		return nil, rej
	}
	if len(payload) > m.maxPayload {
		return nil, reject("payload_too_large", "payload is %d bytes, max_payload_bytes is %d", len(payload), m.maxPayload)
	}
	if r.line {
		return m.appendLines(sc, dst, r, payload, received)
	}
	body := trimSpace(payload)
	if len(body) == 0 {
		return nil, reject("empty", "payload is empty or only whitespace")
	}
	meas := r.measurement
	if meas == "" {
		meas = c.measurement
	}
	switch body[0] {
	case '{':
		return m.appendJSON(sc, dst, r, meas, payload, received)
	case '[':
		if r.batch {
			return m.appendBatch(sc, dst, r, meas, payload, received)
		}
		return nil, reject("bad_json", "byte %d: a JSON array is not a reading; send an object", len(payload)-len(trimLeft(payload)))
	}
	return m.appendNumber(sc, dst, r, meas, c.field, payload, body, received)
}

func (m *Mapper) findStatus(name string, c *capture, sc *scratch) *statusRule {
	for i := range m.statuses {
		if match(&m.statuses[i].tpl, name, c, sc) {
			return &m.statuses[i]
		}
	}
	return nil
}

func (m *Mapper) findRule(name string, c *capture, sc *scratch) *rule {
	for i := range m.rules {
		if match(&m.rules[i].tpl, name, c, sc) {
			return &m.rules[i]
		}
	}
	return nil
}

// checkTopic refuses what an MQTT publish topic can never be.
func checkTopic(topic string) *ingest.RejectError {
	if topic == "" {
		return reject("topic", "topic is empty")
	}
	if i := strings.IndexAny(topic, "+#\x00"); i >= 0 {
		return reject("topic", "topic %q has %q at byte %d; a publish topic cannot hold wildcards or NUL", topic, topic[i], i)
	}
	return nil
}

// checkCaptures refuses captured levels that cannot be written as
// measurement, field or tag values.
func (r *rule) checkCaptures(topic string, c *capture, caps []tag) *ingest.RejectError {
	if c.measurementLevel > 0 {
		if rej := checkLevel(topic, c.measurementLevel, "measurement", c.measurement); rej != nil {
			return rej
		}
	}
	if c.fieldLevel > 0 {
		if rej := checkLevel(topic, c.fieldLevel, "field", c.field); rej != nil {
			return rej
		}
		if c.field == "time" {
			return reject("topic", "topic %q level %d ({field}) is \"time\", which InfluxDB refuses as a field name", topic, c.fieldLevel)
		}
	}
	for i := range caps {
		if rej := checkLevel(topic, caps[i].level, caps[i].key, caps[i].value); rej != nil {
			return rej
		}
	}
	return nil
}

// checkLevel refuses a captured level v that cannot be written; name is the
// capture's name, as in {name}.
func checkLevel(topic string, lvl int, name, v string) *ingest.RejectError {
	if prob, at := nameProblem(v); prob != "" {
		return reject("topic", "topic %q level %d ({%s}) %s at byte %d of the level", topic, lvl, name, prob, at)
	}
	return nil
}

// finish merges topic, static and payload tags (already in sc.tags), checks
// limits and clashes, and writes the point.
func (m *Mapper) finish(sc *scratch, dst []byte, r *rule, meas string, ts int64) ([]byte, *ingest.RejectError) {
	if rej := checkReserved(meas); rej != nil {
		return nil, rej
	}
	if rej := m.addRuleTags(sc, r); rej != nil {
		return nil, rej
	}
	if len(sc.fields) == 0 {
		return nil, reject("no_fields", "payload has no fields")
	}
	if len(sc.groups) > 0 {
		return m.finishGroups(sc, dst, r, meas, ts)
	}
	sortFields(sc.fields)
	for i := 1; i < len(sc.fields); i++ {
		if sc.fields[i].key == sc.fields[i-1].key {
			return nil, reject("bad_field", "field %q is given twice (byte %d and byte %d)", sc.fields[i].key, sc.fields[i-1].at, sc.fields[i].at)
		}
	}
	return sc.emit(dst, meas, sc.tags, sc.fields, ts), nil
}

// finishGroups writes one point per group of fields (objects: points): the
// top-level fields as they are, each nested object's tagged with its key.
func (m *Mapper) finishGroups(sc *scratch, dst []byte, r *rule, meas string, ts int64) ([]byte, *ingest.RejectError) {
	sortGroupedFields(sc.fields)
	out := dst
	for start := 0; start < len(sc.fields); {
		g := sc.fields[start].grp
		end := start + 1
		for end < len(sc.fields) && sc.fields[end].grp == g {
			end++
		}
		fields := sc.fields[start:end]
		for i := 1; i < len(fields); i++ {
			if fields[i].key == fields[i-1].key {
				return nil, reject("bad_field", "field %q is given twice (byte %d and byte %d)", fields[i].key, fields[i-1].at, fields[i].at)
			}
		}
		tags := sc.tags
		if g > 0 {
			name := sc.groups[g-1]
			if prob, at := nameProblem(name); prob != "" {
				return nil, reject("bad_tag", "object %q %s at byte %d of its name, which would be tag %s", name, prob, at, r.objectTag)
			}
			sc.gtags = append(append(sc.gtags[:0], sc.tags...), tag{key: r.objectTag, value: name, src: srcPayload})
			if len(sc.gtags) > m.maxTags {
				return nil, reject("too_many_tags", "point has %d tags, max_tags is %d", len(sc.gtags), m.maxTags)
			}
			sortTags(sc.gtags)
			if i := dupTag(sc.gtags); i >= 0 {
				return nil, reject("bad_tag", "tag %q is given twice (the payload and object %q)", sc.gtags[i].key, name)
			}
			tags = sc.gtags
		}
		out = sc.emit(out, meas, tags, fields, ts)
		start = end
	}
	return out, nil
}

// addRuleTags adds the topic's captures and the rule's static tags to the
// payload's tags in sc.tags, checks the limit and sorts them. Every payload
// format goes through it, so one rule holds for all: a payload tag that
// repeats a topic or static tag is refused, never preferred, and so is a
// payload key that shadows one (checkPayloadKeys). The topic,
// which the broker's ACL checks against the sender, says who sent the
// reading; a payload that could name another device could overwrite its
// points.
func (m *Mapper) addRuleTags(sc *scratch, r *rule) *ingest.RejectError {
	sc.tags = append(sc.tags, sc.caps...)
	sc.tags = append(sc.tags, r.static...)
	if len(sc.tags) > m.maxTags {
		return reject("too_many_tags", "point has %d tags, max_tags is %d", len(sc.tags), m.maxTags)
	}
	sortTags(sc.tags)
	if i := dupTag(sc.tags); i >= 0 {
		a, b := sc.tags[i-1].src, sc.tags[i].src
		if a > b { // the sort is not stable; name the sources in one order
			a, b = b, a
		}
		return reject("bad_tag", "tag %q is given twice (%s and %s)", sc.tags[i].key, srcName(a), srcName(b))
	}
	return m.checkPayloadKeys(sc, r)
}

// checkReserved refuses a reading for the measurement presence is written
// to: only the status template writes device_status, so that a device
// cannot mark itself or another device online or offline with a reading.
func checkReserved(meas string) *ingest.RejectError {
	if meas == StatusMeasurement {
		return reject("reserved_measurement", "measurement %q is written only by the status template", meas)
	}
	return nil
}

func srcName(s uint8) string {
	switch s {
	case srcTopic:
		return "the topic"
	case srcStatic:
		return "the rule's tags"
	}
	return "the payload"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimLeft(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func trimSpace(b []byte) []byte {
	b = trimLeft(b)
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
