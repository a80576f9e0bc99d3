package configfile

import (
	"errors"
	"fmt"
	"reflect"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Defaulter is a value whose defaults are not its zero value. A list
// element, a map value or a pointed-to value that the loader creates
// starts from SetDefaults, so that a key an entry leaves out takes its
// default, as a key left out of a section does.
type Defaulter interface {
	SetDefaults()
}

// Extensible is a struct that owns only some of its keys: an entry
// {name, kind, <the kind's keys>} whose kind picks its other keys. The
// loader decodes the struct's own keys first, then asks Extension where
// the others go: a pointer to a struct holding their defaults (the
// kind's settings). The other keys are decoded into it as strictly as
// the rest of the file; a key neither struct has is unknown.
//
// An error Extension returns is reported at the entry, or, made with
// KeyError, at the value of the key it names (an unknown kind at the
// kind).
type Extensible interface {
	Extension() (any, error)
}

// KeyError is a problem with the value of key in the mapping being
// decoded, for an Extension or an UnmarshalYAML: Load reports it with
// the file, the line and the column of that value (of the mapping when
// the key is not in it) and the full key path.
func KeyError(key, format string, args ...any) error {
	return Problems{&problem{path: key, msg: fmt.Sprintf(format, args...)}}
}

// setDefaults starts v, a value the loader has just created, from its
// defaults.
func setDefaults(v reflect.Value) {
	if d, ok := v.Addr().Interface().(Defaulter); ok {
		d.SetDefaults()
	}
}

// extend decodes rest, the keys of the mapping n that its struct does
// not have, into the struct the struct's Extension returns. common are
// the struct's own keys.
func (w *walker) extend(n *yaml.Node, e Extensible, rest []*yaml.Node, path string, common []string) {
	dst, err := e.Extension()
	if err != nil {
		if !w.placed(n, path, err) {
			w.fail(n, path, "%s", err)
		}
		return
	}
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		w.fail(n, path, "cannot take the keys of this entry: its extension is %T, not a pointer to a struct", dst)
		return
	}
	w.keys(rest, v.Elem(), path, false, common)
}

// placed adds the problems err holds, when it is Problems from DecodeNode
// or KeyError, each at its own place under this file and path: a
// problem without a line (KeyError) is at the value of its key in n, or
// at n, unless that key has a problem already. It reports whether err
// was such.
func (w *walker) placed(n *yaml.Node, path string, err error) bool {
	var found Problems
	if !errors.As(err, &found) {
		return false
	}
	for _, e := range found {
		var p *problem
		if !errors.As(e, &p) {
			w.fail(n, path, "%s", e)
			continue
		}
		line, col, sub := p.line, p.col, join(path, p.path)
		if line == 0 {
			if w.reported(sub) {
				continue // {kind: [x]} is not also a missing kind
			}
			at := valueOf(n, p.path)
			line, col = at.Line, at.Column
		}
		w.problems = append(w.problems, &problem{file: w.file, line: line, col: col, path: sub, msg: p.msg})
	}
	return true
}

// reported tells whether a problem with the key at path is already found.
func (w *walker) reported(path string) bool {
	for _, e := range w.problems {
		var p *problem
		if errors.As(e, &p) && p.path == path {
			return true
		}
	}
	return false
}

// valueOf is the value of key in the mapping n, or n.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
	}
	return n
}

// inFileOrder sorts the problems found since the first by their place:
// an extensible entry decodes its own keys before the others.
func (w *walker) inFileOrder(first int) {
	found := w.problems[first:]
	at := func(i int) (int, int) {
		var p *problem
		if errors.As(found[i], &p) {
			return p.line, p.col
		}
		return 0, 0
	}
	sort.SliceStable(found, func(i, j int) bool {
		li, ci := at(i)
		lj, cj := at(j)
		return li < lj || (li == lj && ci < cj)
	})
}
