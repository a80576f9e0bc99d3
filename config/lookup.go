package config

import (
	"fmt"
	"reflect"
	"strings"
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
