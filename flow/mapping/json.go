package mapping

import (
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/mqflux/mqflux/flow/ingest"
)

// jsonMaxDepth is encoding/json's nesting limit, the most mapping.max_depth
// may be.
const jsonMaxDepth = 10000

// localLayout is a payload time without a zone.
const localLayout = "2006-01-02T15:04:05.999999999"

// localShape reports whether s is written as RFC 3339 without the zone:
// two digits for every field, as Tasmota writes it. time.Parse alone would
// also take a one-digit hour ("T0:00:00"), which RFC 3339 does not.
func localShape(s string) bool {
	const shape = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(shape) {
		return false
	}
	for i := 0; i < len(shape); i++ {
		if c := s[i]; shape[i] == 'd' && (c < '0' || c > '9') || shape[i] != 'd' && c != shape[i] {
			return false
		}
	}
	rest := s[len(shape):]
	if rest == "" {
		return true
	}
	if rest[0] != '.' || len(rest) == 1 {
		return false
	}
	for i := 1; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}

// jsonReader decodes one flat JSON reading straight from the payload bytes:
// the hot path allocates nothing. Nested values are still read (to tell a
// syntax error from a refused shape) but never kept.
//
// A syntax error ends the read at once (reason bad_json). Any other problem
// is remembered in sem and reading goes on, so that a payload that is not
// JSON at all is always reported as bad_json, as encoding/json would. Only
// the limits whose point is not to read on (max_depth, max_key_bytes) end
// the read at once too.
type jsonReader struct {
	m     *Mapper
	sc    *scratch
	r     *rule
	p     []byte
	i     int
	sem   *ingest.RejectError
	ts    int64
	hasTS bool

	fieldsAt, tagsAt int    // byte offset of "fields" / "tags", -1 when absent
	plainAt          int    // first field outside "fields", -1 when none
	plainKey         string // its name

	group uint16 // the point fields go to with objects: points
}

func (m *Mapper) appendJSON(sc *scratch, dst []byte, r *rule, meas string, payload []byte, received time.Time) ([]byte, *ingest.RejectError) {
	j := jsonReader{m: m, sc: sc, r: r, p: payload, fieldsAt: -1, tagsAt: -1, plainAt: -1}
	if rej := j.object(); rej != nil {
		return nil, rej
	}
	if j.sem != nil {
		return nil, j.sem
	}
	if j.fieldsAt >= 0 && j.plainAt >= 0 {
		return nil, reject("bad_field", "field %q at byte %d sits beside \"fields\" (byte %d); with \"fields\" only \"tags\" and \"time\" may be at the top level", j.plainKey, j.plainAt, j.fieldsAt)
	}
	if !j.hasTS {
		ts, rej := receivedNanos(received)
		if rej != nil {
			return nil, rej
		}
		j.ts = ts
	}
	return m.finish(sc, dst, r, meas, j.ts)
}

// fail remembers the first problem that is not a syntax error.
func (j *jsonReader) fail(rej *ingest.RejectError) {
	if j.sem == nil {
		j.sem = rej
	}
}

func (j *jsonReader) syntax(context string) *ingest.RejectError {
	if j.i >= len(j.p) {
		return reject("bad_json", "byte %d: unexpected end of JSON input", j.i)
	}
	return reject("bad_json", "byte %d: invalid character %s %s", j.i, strconv.QuoteRune(rune(j.p[j.i])), context)
}

func (j *jsonReader) peek() byte {
	if j.i < len(j.p) {
		return j.p[j.i]
	}
	return 0
}

func (j *jsonReader) ws() {
	for j.i < len(j.p) && isSpace(j.p[j.i]) {
		j.i++
	}
}

// members reads the members of the object whose '{' is at j.i, calling
// member with the cursor on each value.
func (j *jsonReader) members(member func(key string, keyAt int) *ingest.RejectError) *ingest.RejectError {
	j.i++
	j.ws()
	if j.peek() == '}' {
		j.i++
		return nil
	}
	for {
		if j.peek() != '"' {
			return j.syntax("looking for beginning of object key string")
		}
		keyAt := j.i
		key, rej := j.str()
		if rej != nil {
			return rej
		}
		j.ws()
		if j.peek() != ':' {
			return j.syntax("after object key")
		}
		j.i++
		j.ws()
		if rej := member(key, keyAt); rej != nil {
			return rej
		}
		if done, rej := j.next('}', "after object key:value pair"); done || rej != nil {
			return rej
		}
	}
}

// next steps over what follows a member or element: a ',' before the
// next one (done false) or the closing byte (done true).
func (j *jsonReader) next(closing byte, context string) (done bool, rej *ingest.RejectError) {
	j.ws()
	switch j.peek() {
	case ',':
		j.i++
		j.ws()
		return false, nil
	case closing:
		j.i++
		return true, nil
	}
	return false, j.syntax(context)
}

// object reads the whole payload: one object and nothing after it.
func (j *jsonReader) object() *ingest.RejectError {
	j.ws()
	if rej := j.members(j.topMember); rej != nil {
		return rej
	}
	j.ws()
	if j.i != len(j.p) {
		return j.syntax("after top-level value")
	}
	return nil
}

func (j *jsonReader) topMember(key string, keyAt int) *ingest.RejectError {
	if key == j.r.timeKey {
		return j.timeValue(keyAt)
	}
	if j.r.root != "" {
		return j.rootValue(key, keyAt)
	}
	switch key {
	case "tags":
		return j.objectOnce(key, keyAt, &j.tagsAt, "bad_tag", "an object of strings", j.tagMember)
	case "fields":
		return j.objectOnce(key, keyAt, &j.fieldsAt, "bad_field", "an object", j.explicitField)
	}
	if j.plainAt < 0 {
		j.plainAt, j.plainKey = keyAt, key
	}
	return j.fieldValue(key, keyAt, 1)
}

// objectOnce reads the top-level member "tags" or "fields": an object,
// given at most once (*at is where it was first, -1 before), whose members
// member reads. Either fault is refused with reason.
func (j *jsonReader) objectOnce(key string, keyAt int, at *int, reason, object string, member func(key string, keyAt int) *ingest.RejectError) *ingest.RejectError {
	if *at >= 0 {
		j.fail(reject(reason, "%q at byte %d is given twice (first at byte %d)", key, keyAt, *at))
	}
	*at = keyAt
	if j.peek() != '{' {
		j.fail(reject(reason, "%q at byte %d must be %s", key, keyAt, object))
		return j.skip(1)
	}
	return j.members(member)
}

// rootValue reads a top-level member of a payload whose fields are in the
// rule's root object: that object is read, the rest skipped.
func (j *jsonReader) rootValue(key string, keyAt int) *ingest.RejectError {
	if key != j.r.root {
		return j.skip(1)
	}
	if j.peek() != '{' {
		j.fail(reject("bad_field", "%q at byte %d must be an object", key, keyAt))
		return j.skip(1)
	}
	return j.members(func(k string, at int) *ingest.RejectError {
		if k == j.r.timeKey {
			return j.timeValue(at)
		}
		return j.fieldValue(k, at, 2)
	})
}

func (j *jsonReader) explicitField(key string, keyAt int) *ingest.RejectError {
	if key == "time" {
		j.fail(reject("bad_field", "field \"time\" at byte %d: InfluxDB refuses a field named time; put the time beside \"fields\"", keyAt))
		return j.skip(2)
	}
	return j.fieldValue(key, keyAt, 2)
}

func (j *jsonReader) tagMember(key string, keyAt int) *ingest.RejectError {
	if j.peek() != '"' {
		j.fail(reject("bad_tag", "tag %q at byte %d must be a string", key, keyAt))
		return j.skip(2)
	}
	valAt := j.i
	v, rej := j.str()
	if rej != nil {
		return rej
	}
	switch {
	case key == "time":
		j.fail(reject("bad_tag", "tag \"time\" at byte %d: InfluxDB refuses a tag named time", keyAt))
	case len(v) > j.m.maxString:
		j.fail(reject("string_too_long", "tag %q at byte %d is %d bytes, max_string_bytes is %d", key, valAt, len(v), j.m.maxString))
	case len(j.sc.tags) >= j.m.maxTags:
		j.fail(reject("too_many_tags", "tag %q at byte %d is more than max_tags (%d)", key, keyAt, j.m.maxTags))
	}
	if prob, at := nameProblem(key); prob != "" {
		j.fail(reject("bad_tag", "tag name %q at byte %d %s (byte %d of the name)", key, keyAt, prob, at))
	}
	if prob, at := nameProblem(v); prob != "" {
		j.fail(reject("bad_tag", "tag %q value at byte %d %s (byte %d of the value)", key, valAt, prob, at))
	}
	if j.sem == nil {
		j.sc.tags = append(j.sc.tags, tag{key: key, value: v, src: srcPayload})
	}
	return nil
}

// fieldValue reads the value of field key; depth is that of the object
// holding it, whose members are the point's fields.
func (j *jsonReader) fieldValue(key string, keyAt, depth int) *ingest.RejectError {
	return j.value(key, keyAt, depth, true)
}

// value reads the value of the field named key (already joined to its
// parents' names); top says whether it is a member of the point's own
// object, where objects: points starts a point.
func (j *jsonReader) value(key string, keyAt, depth int, top bool) *ingest.RejectError {
	valAt := j.i
	switch c := j.peek(); {
	case c == 'n' && j.r.skipNulls:
		return j.skip(depth)
	case c == 'n':
		j.fail(reject("null_field", "field %q at byte %d is null", key, valAt))
		return j.skip(depth)
	case c == '{' && j.r.objects != Refuse:
		return j.nested(key, keyAt, depth, top)
	case c == '[' && j.r.index:
		return j.arrayFields(key, keyAt, depth)
	case c == '{' || c == '[':
		j.fail(reject("bad_field", "field %q at byte %d is an %s; nested values are not flattened", key, valAt, map[byte]string{'{': "object", '[': "array"}[c]))
		return j.skip(depth)
	}
	return j.scalar(key, keyAt)
}

// nested reads a nested object as fields: a point of its own when it is a
// member of the point's object under objects: points, else flattened.
func (j *jsonReader) nested(key string, keyAt, depth int, top bool) *ingest.RejectError {
	if rej := j.deeper(depth); rej != nil {
		return rej
	}
	if top && j.r.objects == Points && j.group == 0 {
		j.sc.groups = append(j.sc.groups, key)
		j.group = uint16(len(j.sc.groups))
		if len(j.sc.groups) > j.m.maxFields {
			j.fail(reject("too_many_fields", "object %q at byte %d is more than max_fields (%d) points", key, keyAt, j.m.maxFields))
		}
		rej := j.members(func(k string, at int) *ingest.RejectError { return j.value(k, at, depth+1, false) })
		j.group = 0
		return rej
	}
	return j.members(func(k string, at int) *ingest.RejectError {
		name, rej := j.join(key, k, at)
		if rej != nil {
			return rej
		}
		return j.value(name, at, depth+1, false)
	})
}

// deeper refuses a container opened inside one at depth that would go
// past max_depth: a reading ends there, before any work that grows with
// the depth.
func (j *jsonReader) deeper(depth int) *ingest.RejectError {
	if depth+1 > j.m.maxDepth {
		return reject("too_deep", "byte %d: nesting deeper than max_depth (%d)", j.i, j.m.maxDepth)
	}
	return nil
}

// arrayFields reads an array as fields key<sep>0, key<sep>1, ...
func (j *jsonReader) arrayFields(key string, keyAt, depth int) *ingest.RejectError {
	if rej := j.deeper(depth); rej != nil {
		return rej
	}
	j.i++
	j.ws()
	if j.peek() == ']' {
		j.i++
		return nil
	}
	for n := 0; ; n++ {
		var num [20]byte
		name, rej := j.join(key, view(strconv.AppendInt(num[:0], int64(n), 10)), j.i)
		if rej != nil {
			return rej
		}
		if rej := j.value(name, keyAt, depth+1, false); rej != nil {
			return rej
		}
		if done, rej := j.next(']', "after array element"); done || rej != nil {
			return rej
		}
	}
}

// join names a nested field: parent<separator>child, refused before it is
// built when it would be longer than max_key_bytes; at is the child's byte
// offset. The name lives in the scratch path, which holds the names of the
// objects being read, one prefix of the next: a name stays valid while its
// members are read and is overwritten by its next sibling, so names cost
// no more than the deepest one (scalar keeps the field names it stores).
func (j *jsonReader) join(parent, child string, at int) (string, *ingest.RejectError) {
	n := len(parent) + len(j.r.sep) + len(child)
	if n > j.m.maxKey {
		return "", reject("key_too_long", "byte %d: field name %.32q... joined with %.32q is %d bytes, max_key_bytes is %d",
			at, parent, child, n, j.m.maxKey)
	}
	path := j.sc.path
	if inPath(parent, path) {
		path = path[:len(parent)] // parent is the name being read, at the start of the path
	} else {
		path = append(path[:0], parent...)
	}
	path = append(path, j.r.sep...)
	path = append(path, child...)
	j.sc.path = path
	return view(path), nil
}

// inPath reports whether s is a prefix of path's array, where join keeps
// the names it builds.
func inPath(s string, path []byte) bool {
	return len(s) > 0 && len(s) <= cap(path) && unsafe.StringData(s) == unsafe.SliceData(path[:1])
}

// scalar reads a string, number or boolean field.
func (j *jsonReader) scalar(key string, keyAt int) *ingest.RejectError {
	if prob, at := nameProblem(key); prob != "" {
		j.fail(reject("bad_field", "field name %q at byte %d %s (byte %d of the name)", key, keyAt, prob, at))
	} else if key == "time" {
		j.fail(reject("bad_field", "field \"time\" at byte %d: InfluxDB refuses a field named time", keyAt))
	}
	f := field{key: key, at: keyAt, grp: j.group}
	valAt := j.i
	switch c := j.peek(); {
	case c == '"':
		s, rej := j.str()
		if rej != nil {
			return rej
		}
		f.kind, f.s = kindString, s
		if len(s) > j.m.maxString {
			j.fail(reject("string_too_long", "field %q at byte %d is %d bytes, max_string_bytes is %d", key, valAt, len(s), j.m.maxString))
		} else if prob, at := stringProblem(s); prob != "" {
			j.fail(reject("bad_field", "field %q at byte %d %s (byte %d of the value)", key, valAt, prob, at))
		}
	case c == '-' || (c >= '0' && c <= '9'):
		end := scanNumber(j.p, j.i)
		if end < 0 {
			return j.numberSyntax()
		}
		v, err := strconv.ParseFloat(view(j.p[j.i:end]), 64)
		if err != nil { // grammar checked: only overflow is left
			j.fail(reject("nan_inf", "field %q at byte %d: %s overflows a 64-bit float", key, valAt, j.p[j.i:end]))
		}
		j.i = end
		f.kind, f.f = kindFloat, v
	case c == 't' || c == 'f':
		b := c == 't'
		if rej := j.literal(b); rej != nil {
			return rej
		}
		f.kind, f.b = kindBool, b
	default:
		return j.syntax("looking for beginning of value")
	}
	if len(j.sc.fields) >= j.m.maxFields {
		j.fail(reject("too_many_fields", "field %q at byte %d is more than max_fields (%d)", key, keyAt, j.m.maxFields))
	}
	if j.sem == nil {
		if inPath(key, j.sc.path) {
			f.key = j.sc.keepString(key) // the path is overwritten by the next name
		}
		j.sc.fields = append(j.sc.fields, f)
	}
	return nil
}

func (j *jsonReader) timeValue(keyAt int) *ingest.RejectError {
	if j.hasTS {
		j.fail(reject("bad_time", "\"time\" at byte %d is given twice", keyAt))
	}
	j.hasTS = true
	valAt := j.i
	switch c := j.peek(); {
	case c == '"':
		s, rej := j.str()
		if rej != nil {
			return rej
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil && localShape(s) {
			// A time without a zone (Tasmota's) is local to mapping.timezone.
			t, err = time.ParseInLocation(localLayout, s, j.m.loc)
		}
		if err != nil {
			j.fail(reject("bad_time", "\"time\" at byte %d: %q is not an RFC 3339 time", valAt, s))
			return nil
		}
		ns, ok := nanos(t)
		if !ok {
			j.fail(reject("bad_time", "\"time\" at byte %d: %s is outside %s", valAt, s, timeRange))
		}
		j.ts = ns
	case c == '-' || (c >= '0' && c <= '9'):
		end := scanNumber(j.p, j.i)
		if end < 0 {
			return j.numberSyntax()
		}
		ns, ok := epochNanos(j.p[j.i:end], j.r.precExp)
		if !ok {
			j.fail(reject("bad_time", "\"time\" at byte %d: %s (%s since the epoch) is outside %s", valAt, j.p[j.i:end], precName(j.r.precExp), timeRange))
		}
		j.i = end
		j.ts = ns
	default:
		j.fail(reject("bad_time", "\"time\" at byte %d must be an RFC 3339 string or an epoch number", valAt))
		return j.skip(1)
	}
	return nil
}

func precName(exp int) string {
	return map[int]string{9: "seconds", 6: "milliseconds", 3: "microseconds", 0: "nanoseconds"}[exp]
}

func (j *jsonReader) numberSyntax() *ingest.RejectError {
	// Point at the byte that breaks the number, as encoding/json does.
	i := j.i
	if i < len(j.p) && j.p[i] == '-' {
		i++
	}
	for i < len(j.p) && (j.p[i] >= '0' && j.p[i] <= '9' || j.p[i] == '.' || j.p[i] == 'e' || j.p[i] == 'E' || j.p[i] == '+' || j.p[i] == '-') {
		i++
	}
	j.i = i
	return j.syntax("in numeric literal")
}

// literal reads true (b) or false.
func (j *jsonReader) literal(b bool) *ingest.RejectError {
	word := "false"
	if b {
		word = "true"
	}
	return j.word(word)
}

func (j *jsonReader) word(w string) *ingest.RejectError {
	for k := 0; k < len(w); k++ {
		if j.peek() != w[k] {
			return j.syntax("in literal " + w)
		}
		j.i++
	}
	return nil
}

// skip reads and discards any JSON value; depth is that of the container
// holding it.
func (j *jsonReader) skip(depth int) *ingest.RejectError {
	switch c := j.peek(); {
	case c == '"':
		_, rej := j.str()
		return rej
	case c == '{' || c == '[':
		if rej := j.deeper(depth); rej != nil {
			return rej
		}
		if c == '{' {
			return j.members(func(string, int) *ingest.RejectError { return j.skip(depth + 1) })
		}
		return j.array(depth + 1)
	case c == '-' || (c >= '0' && c <= '9'):
		end := scanNumber(j.p, j.i)
		if end < 0 {
			return j.numberSyntax()
		}
		j.i = end
		return nil
	case c == 't':
		return j.word("true")
	case c == 'f':
		return j.word("false")
	case c == 'n':
		return j.word("null")
	}
	return j.syntax("looking for beginning of value")
}

func (j *jsonReader) array(depth int) *ingest.RejectError {
	j.i++
	j.ws()
	if j.peek() == ']' {
		j.i++
		return nil
	}
	for {
		if rej := j.skip(depth); rej != nil {
			return rej
		}
		j.ws()
		switch j.peek() {
		case ',':
			j.i++
			j.ws()
		case ']':
			j.i++
			return nil
		default:
			return j.syntax("after array element")
		}
	}
}

// str reads the string whose opening quote is at j.i. Without escapes it
// is a view of the payload; with them it is unescaped into the scratch
// buffer, lone surrogates becoming U+FFFD as in encoding/json.
func (j *jsonReader) str() (string, *ingest.RejectError) {
	j.i++
	start := j.i
	for j.i < len(j.p) {
		switch c := j.p[j.i]; {
		case c == '"':
			j.i++
			return view(j.p[start : j.i-1]), nil
		case c == '\\':
			return j.strEscaped(start)
		case c < 0x20:
			return "", j.syntax("in string literal")
		}
		j.i++
	}
	return "", j.syntax("")
}

func (j *jsonReader) strEscaped(start int) (string, *ingest.RejectError) {
	buf := j.sc.buf
	n := len(buf)
	buf = append(buf, j.p[start:j.i]...)
	for j.i < len(j.p) {
		c := j.p[j.i]
		switch {
		case c == '"':
			j.i++
			j.sc.buf = buf
			return view(buf[n:]), nil
		case c < 0x20:
			return "", j.syntax("in string literal")
		case c != '\\':
			buf = append(buf, c)
			j.i++
			continue
		}
		j.i++
		var r rune
		switch j.peek() {
		case '"', '\\', '/':
			r = rune(j.p[j.i])
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			var ok bool
			if r, ok = hex4(j.p, j.i+1); !ok {
				j.i++
				for k := 0; k < 4 && j.i < len(j.p) && isHex(j.p[j.i]); k++ {
					j.i++
				}
				return "", j.syntax("in \\u hexadecimal character escape")
			}
			j.i += 4
			if utf16.IsSurrogate(r) {
				r = j.lowSurrogate(r)
			}
		default:
			return "", j.syntax("in string escape code")
		}
		buf = utf8.AppendRune(buf, r)
		j.i++
	}
	return "", j.syntax("")
}

// lowSurrogate completes the high surrogate r with a following \uDC00-\uDFFF
// escape, or gives U+FFFD and leaves the next escape alone.
func (j *jsonReader) lowSurrogate(r rune) rune {
	p := j.p
	i := j.i + 1
	if i+1 < len(p) && p[i] == '\\' && p[i+1] == 'u' {
		if r2, ok := hex4(p, i+2); ok {
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				j.i += 6
				return dec
			}
		}
	}
	return utf8.RuneError
}

func hex4(p []byte, i int) (rune, bool) {
	if i+4 > len(p) {
		return 0, false
	}
	var r rune
	for _, c := range p[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
