package subscriber

import (
	"fmt"
	"strings"
)

// checkFilter refuses what a broker would refuse, so a typo in
// bridge.filters stops `mqflux bridge` at once instead of being retried.
// $share/<group>/<filter> is a shared subscription (MQTT 5, and Mosquitto 2,
// EMQX, HiveMQ, VerneMQ for 3.1.1 clients too).
func checkFilter(f string) error {
	if f == "" {
		return fmt.Errorf("topic filter is empty")
	}
	inner := f
	if rest, ok := strings.CutPrefix(f, "$share/"); ok {
		group, filter, found := strings.Cut(rest, "/")
		if !found || group == "" || filter == "" || strings.ContainsAny(group, "+#") {
			return fmt.Errorf("topic filter %q: want $share/<group>/<filter>", f)
		}
		inner = filter
	}
	levels := strings.Split(inner, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("topic filter %q: # must be the last level", f)
		case strings.Contains(l, "#") && l != "#", strings.Contains(l, "+") && l != "+":
			return fmt.Errorf("topic filter %q: level %q: + and # must fill a whole level", f, l)
		case strings.ContainsRune(l, 0):
			return fmt.Errorf("topic filter %q: contains NUL", f)
		}
	}
	return nil
}
