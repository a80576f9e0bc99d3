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
// (an entry whose kind picks its keys): the problems it returns carry
// the line, the column and the key path below n, and Load reports them
// with the file's name and the full key path.
func DecodeNode(n *yaml.Node, dst any) error {
	w := walker{}
	w.node(n, reflect.ValueOf(dst).Elem(), "")
	if len(w.problems) > 0 {
		return w.problems
	}
	return nil
}

// NodeError is a problem with n, found by an UnmarshalYAML: key is the
// key path below the node being decoded ("" for the node itself). Load
// reports it with the file, line and column of n.
func NodeError(n *yaml.Node, key, format string, args ...any) error {
	return Problems{&problem{line: n.Line, col: n.Column, path: key, msg: fmt.Sprintf(format, args...)}}
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
	var found Problems
	if errors.As(err, &found) {
		// An UnmarshalYAML that decoded with DecodeNode or NodeError:
		// each problem keeps its own place, under this file and path.
		for _, e := range found {
			var p *problem
			if errors.As(e, &p) {
				w.problems = append(w.problems, &problem{file: w.file, line: p.line, col: p.col, path: join(path, p.path), msg: p.msg})
				continue
			}
			w.fail(n, path, "%s", e)
		}
		return
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
	if n.Tag == "!!null" {
		return // "broker:" with nothing under it keeps the defaults
	}
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "want %s, got %s", typeName(v.Type()), describe(n))
		return
	}
	fields := fieldsByKey(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		sub := join(path, key)
		if seen[key] {
			w.fail(k, sub, "key given twice")
			continue
		}
		seen[key] = true
		idx, ok := fields[key]
		if !ok {
			w.fail(k, sub, "unknown key; known keys here: %s", strings.Join(sortedKeys(fields), ", "))
			continue
		}
		w.node(val, v.FieldByIndex(idx), sub)
	}
}

func (w *walker) slice(n *yaml.Node, v reflect.Value, path string) {
	if n.Tag == "!!null" {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		w.fail(n, path, "want a list, got %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		w.node(item, out.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(out)
}

func (w *walker) dict(n *yaml.Node, v reflect.Value, path string) {
	if n.Tag == "!!null" {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "want a mapping of keys, got %s", describe(n))
		return
	}
	out := reflect.MakeMap(v.Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kv := reflect.New(v.Type().Key()).Elem()
		sub := join(path, k.Value)
		w.scalar(k, kv, sub)
		ev := reflect.New(v.Type().Elem()).Elem()
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

func sortedKeys(m map[string][]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Entry is the head of a list entry whose kind picks its other keys, as
// in {name: ops, kind: webhook, url: ...}: Name is optional, Kind is not.
type Entry struct {
	Name, Kind string
	// KindNode is the value of kind (or the entry, when kind is
	// missing), for an error about the kind to point at.
	KindNode *yaml.Node
}

// SplitEntry reads name and kind off the mapping n and returns them with
// a mapping of the entry's other keys, for the kind to decode with
// DecodeNode.
func SplitEntry(n *yaml.Node) (Entry, *yaml.Node, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return Entry{}, nil, NodeError(n, "", "want a mapping of keys with a kind, got %s", describe(n))
	}
	e := Entry{KindNode: n}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Value != "name" && k.Value != "kind" {
			rest.Content = append(rest.Content, k, val)
			continue
		}
		if seen[k.Value] {
			return Entry{}, nil, NodeError(k, k.Value, "key given twice")
		}
		seen[k.Value] = true
		if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
			return Entry{}, nil, NodeError(val, k.Value, "want a string, got %s", describe(val))
		}
		if k.Value == "name" {
			e.Name = val.Value
		} else {
			e.Kind, e.KindNode = val.Value, val
		}
	}
	if e.Kind == "" {
		return Entry{}, nil, NodeError(n, "kind", "missing: every entry names its kind")
	}
	return e, rest, nil
}
