package configfile

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// applyEnv overrides keys from MQFLUX_* variables. A value is read as YAML
// of the key's type, so lists and mappings can be overridden too
// (MQFLUX_HTTP_LEGACY_PARAMETERS='[temperature, humidity]'). Variables that
// name no key come back as warnings: the same prefix is shared by the device
// agent and by the test harness, so they cannot be errors.
func applyEnv(dst any, environ []string) ([]string, error) {
	targets := map[string]envTarget{}
	collectEnv(reflect.ValueOf(dst).Elem(), "", EnvPrefix, targets)
	var problems Problems
	var warnings []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		t, known := targets[name]
		if !known {
			warnings = append(warnings, fmt.Sprintf("environment variable %s names no configuration key", name))
			continue
		}
		var n yaml.Node
		err := yaml.Unmarshal([]byte(value), &n)
		if t.value.Kind() == reflect.String && (err != nil || !isScalar(&n)) {
			// A string key takes the value as written when it is not a
			// YAML scalar: [::]:1883 reads as the start of a YAML list.
			t.value.SetString(value)
			continue
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("%s (%s): %v", name, t.path, err))
			continue
		}
		if len(n.Content) == 0 { // an empty value: the zero of the type
			t.value.SetZero()
			continue
		}
		w := walker{file: name}
		w.node(n.Content[0], t.value, t.path)
		for _, p := range w.problems {
			problems = append(problems, fmt.Errorf("environment %s", strings.Replace(p.Error(), ":1:1:", "", 1)))
		}
	}
	sort.Strings(warnings)
	if len(problems) > 0 {
		return warnings, problems
	}
	return warnings, nil
}

// isScalar reports whether a parsed document is empty or one scalar.
func isScalar(doc *yaml.Node) bool {
	return len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode
}

type envTarget struct {
	path  string
	value reflect.Value
}

func collectEnv(v reflect.Value, path, env string, out map[string]envTarget) {
	if v.Kind() == reflect.Struct {
		if _, ok := v.Addr().Interface().(yaml.Unmarshaler); !ok {
			for key, idx := range fieldsByKey(v.Type()) {
				collectEnv(v.FieldByIndex(idx), join(path, key), env+strings.ToUpper(key)+"_", out)
			}
			return
		}
	}
	out[strings.TrimSuffix(env, "_")] = envTarget{path: path, value: v}
}

// EnvName is the environment variable that overrides the key at path
// ("influx.url" → "MQFLUX_INFLUX_URL").
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}
