package configfile

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Lookup returns the value at a dotted key path ("influx.url") as text,
// for scripts that need one setting of a loaded configuration.
func Lookup(cfg any, path string) (string, error) {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	for _, key := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return "", fmt.Errorf("%s: %q has no keys below it", path, key)
		}
		idx, ok := fieldsByKey(v.Type())[key]
		if !ok {
			return "", fmt.Errorf("%s: unknown key %q", path, key)
		}
		v = v.FieldByIndex(idx)
	}
	if s, ok := v.Interface().(fmt.Stringer); ok {
		return s.String(), nil
	}
	return fmt.Sprint(v.Interface()), nil
}

// KeyInfo is one leaf of the configuration: its dotted path, its value in the
// configuration given to Keys, and the environment variable overriding it.
type KeyInfo struct {
	Path, Value, Env string
}

// Keys lists every leaf key of cfg in declaration order, for the
// reference table in the README and a test that keeps the two in step.
func Keys(cfg any) []KeyInfo {
	var out []KeyInfo
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		if v.Kind() == reflect.Struct {
			if _, custom := v.Addr().Interface().(interface{ UnmarshalYAML(*yaml.Node) error }); !custom {
				for _, f := range reflect.VisibleFields(v.Type()) {
					name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
					if !f.IsExported() || name == "-" || f.Anonymous {
						continue
					}
					walk(v.FieldByIndex(f.Index), join(path, name))
				}
				return
			}
		}
		val := fmt.Sprint(v.Interface())
		if s, ok := v.Interface().(fmt.Stringer); ok {
			val = s.String()
		}
		out = append(out, KeyInfo{Path: path, Value: val, Env: EnvName(path)})
	}
	v := reflect.ValueOf(cfg)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	} else {
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p.Elem()
	}
	walk(v, "")
	return out
}
