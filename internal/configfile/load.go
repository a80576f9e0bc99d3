// Package configfile reads a YAML configuration file strictly into a struct
// of defaults: every key must be known, every value must fit its type, and
// every problem names the file, the line, the column and the key path. Any
// key can be overridden from the environment as MQFLUX_ followed by its path
// in upper case with "_" between levels (MQFLUX_INFLUX_URL, MQFLUX_DATA_DIR).
//
// It knows nothing of any schema: the server and the device agent each
// declare theirs from the sections their packages own, and those packages
// check their own values with a Validator, so that every program links only
// the packages it runs.
package configfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "MQFLUX_"

// Problems is every error found in one file, in file order, so a user fixes
// them all in one pass instead of one per run.
type Problems []error

func (p Problems) Error() string {
	var b strings.Builder
	for i, e := range p {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.Is and errors.As look at each problem.
func (p Problems) Unwrap() []error { return p }

// LoadFile decodes the YAML file at path into dst (a pointer to a struct
// already holding the defaults), then applies environment overrides from
// environ. Keys absent from the file keep their defaults.
func LoadFile(path string, dst any, environ []string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Load(data, path, dst, environ)
}

// Load is LoadFile on bytes already read; name is used in messages. It
// returns warnings (unknown MQFLUX_ variables) that do not stop a start.
func Load(data []byte, name string, dst any, environ []string) ([]string, error) {
	if err := decode(data, name, dst); err != nil {
		return nil, err
	}
	return applyEnv(dst, environ)
}

func decode(data []byte, name string, dst any) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file means every default
		}
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var rest yaml.Node
	if err := dec.Decode(&rest); err == nil {
		return fmt.Errorf("%s:%d: a second YAML document; the config is one document", name, rest.Line)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	w := walker{file: name}
	w.node(root, reflect.ValueOf(dst).Elem(), "")
	if len(w.problems) > 0 {
		return w.problems
	}
	return nil
}

// walker checks the document against the struct and decodes scalar by
// scalar, so that each error carries the line and the full key path, which
// yaml's own strict mode reports only as "field x not found in type T".
type walker struct {
	file     string
	problems Problems
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.problems = append(w.problems, &problem{file: w.file, line: n.Line, col: n.Column, path: path, msg: fmt.Sprintf(format, args...)})
}

// problem is one finding at a place in the file. Below a custom decoder
// (DecodeNode) it knows neither the file nor the key path above the node;
// the walker that called the decoder adds both.
type problem struct {
	file      string
	line, col int
	path, msg string
}

func (p *problem) Error() string {
	where := p.path
	if where == "" {
		where = "(top level)"
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", p.file, p.line, p.col, where, p.msg)
}

// DecodeNode decodes n into dst (a pointer to a struct holding the
// defaults) as Load decodes a file: every key known, every value of its
// type. It is for an UnmarshalYAML whose shape is known only at run time
// (an entry whose kind picks its keys, see Extensible): the problems it
// returns carry the line, the column and the key path below n, and Load
// reports them with the file's name and the full key path.
func DecodeNode(n *yaml.Node, dst any) error {
	w := walker{}
	w.node(n, reflect.ValueOf(dst).Elem(), "")
	if len(w.problems) > 0 {
		return w.problems
	}
	return nil
}

func (w *walker) node(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		w.scalar(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		w.mapping(n, v, path)
	case reflect.Slice:
		w.slice(n, v, path)
	case reflect.Map:
		w.dict(n, v, path)
	case reflect.Pointer:
		if n.Tag == "!!null" {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
			setDefaults(v.Elem())
		}
		w.node(n, v.Elem(), path)
	default:
		w.scalar(n, v, path)
	}
}

func (w *walker) scalar(n *yaml.Node, v reflect.Value, path string) {
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	if w.placed(n, path, err) {
		return // an UnmarshalYAML that decoded with DecodeNode or KeyError
	}
	w.fail(n, path, "%s", cleanTypeError(err, v.Type()))
}

// cleanTypeError turns yaml's "line 3: cannot unmarshal !!str `abc` into
// int" into "want a whole number, got \"abc\"" — the line is already given.
func cleanTypeError(err error, t reflect.Type) string {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
			msg = msg[i+2:]
		}
		if i := strings.Index(msg, "`"); i >= 0 {
			if j := strings.LastIndex(msg, "`"); j > i {
				return fmt.Sprintf("want %s, got %q", typeName(t), msg[i+1:j])
			}
		}
	}
	return strings.TrimPrefix(msg, "yaml: ")
}

func typeName(t reflect.Type) string {
	switch {
	case t.String() == "time.Duration":
		return "a duration such as 500ms, 10s or 5m"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a mapping of keys"
	}
	return t.String()
}

func (w *walker) mapping(n *yaml.Node, v reflect.Value, path string) {
	ext, open := v.Addr().Interface().(Extensible)
	switch {
	case n.Tag == "!!null" && !open:
		return // "broker:" with nothing under it keeps the defaults
	case n.Tag != "!!null" && n.Kind != yaml.MappingNode:
		w.fail(n, path, "want %s, got %s", typeName(v.Type()), describe(n))
		return
	}
	first := len(w.problems)
	rest := w.keys(n.Content, v, path, open, nil)
	if open {
		w.extend(n, ext, rest, path, sortedKeys(fieldsByKey(v.Type())))
		w.inFileOrder(first)
	}
}

// keys decodes each key of pairs (key, value, key, value...) into its
// field of the struct v. A key v lacks is unknown, or, when open, is
// returned for the struct's Extension. common are the keys of the struct
// an Extension extends, for the message about an unknown key.
func (w *walker) keys(pairs []*yaml.Node, v reflect.Value, path string, open bool, common []string) (rest []*yaml.Node) {
	fields := fieldsByKey(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(pairs); i += 2 {
		k, val := pairs[i], pairs[i+1]
		key := k.Value
		sub := join(path, key)
		if seen[key] {
			w.fail(k, sub, "key given twice")
			continue
		}
		seen[key] = true
		idx, ok := fields[key]
		switch {
		case ok:
			w.node(val, v.FieldByIndex(idx), sub)
		case open:
			rest = append(rest, k, val)
		case len(common) > 0:
			w.fail(k, sub, "unknown key; known keys here: %s; and in every entry: %s", knownKeys(fields), strings.Join(common, ", "))
		default:
			w.fail(k, sub, "unknown key; known keys here: %s", knownKeys(fields))
		}
	}
	return rest
}

// holds reports whether n is a node of kind to decode into v, a slice
// or a map: null empties v, and another kind is a problem.
func (w *walker) holds(n *yaml.Node, kind yaml.Kind, v reflect.Value, path string) bool {
	switch {
	case n.Tag == "!!null":
		v.SetZero()
		return false
	case n.Kind != kind:
		w.fail(n, path, "want %s, got %s", typeName(v.Type()), describe(n))
		return false
	}
	return true
}

func (w *walker) slice(n *yaml.Node, v reflect.Value, path string) {
	if !w.holds(n, yaml.SequenceNode, v, path) {
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		setDefaults(out.Index(i))
		w.node(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(out)
}

func (w *walker) dict(n *yaml.Node, v reflect.Value, path string) {
	if !w.holds(n, yaml.MappingNode, v, path) {
		return
	}
	out := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kv := reflect.New(v.Type().Key()).Elem()
		sub := join(path, k.Value)
		w.scalar(k, kv, sub)
		ev := reflect.New(v.Type().Elem()).Elem()
		setDefaults(ev)
		w.node(val, ev, sub)
		out.SetMapIndex(kv, ev)
	}
	v.Set(out)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	return path + "." + key
}

// fieldsByKey maps each yaml key of struct type t to its field index,
// following inline (embedded) structs.
func fieldsByKey(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") || (f.Anonymous && name == "") {
			continue // VisibleFields already lists the promoted fields
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Index
	}
	return out
}

// knownKeys lists the keys of fields for a message, "none" when there
// are none.
func knownKeys(fields map[string][]int) string {
	if len(fields) == 0 {
		return "none"
	}
	return strings.Join(sortedKeys(fields), ", ")
}

func sortedKeys(m map[string][]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
