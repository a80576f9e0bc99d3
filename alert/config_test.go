package alert

import (
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/configfile"
)

// The example configuration loads and validates; each mistake is
// reported under its key.
func TestConfigValidate(t *testing.T) {
	const example = `
silent_after: 10m
rules:
  - {name: disk-full, measurement: disk_used_percent, field: value, above: 90, for: 5m}
  - {name: freezing, measurement: temperature, field: value, below: 0, for: 10m, devices: ["greenhouse-*"]}
notify:
  - {kind: webhook, url: "http://127.0.0.1:9000/hook"}
  - {kind: telegram, bot_token_file: /etc/mqflux/telegram.token, chat_id: "123456", api_url: "https://api.telegram.org"}
  - {kind: ntfy, url: "https://ntfy.example.org/mqflux"}
  - {kind: mqtt, topic_prefix: alerts}
`
	cases := []struct {
		name, yaml, want string
	}{
		{"the example", example, ""},
		{"silence off", "silent_after: 0s", ""},
		{"unknown measurement is fine", "rules: [{name: x, measurement: no_such_thing, above: 1}]", ""},
		{"neither above nor below", "rules: [{name: x, measurement: m}]", "alerts.rules[0]: rule \"x\" has neither above nor below"},
		{"below over above", "rules: [{name: x, measurement: m, above: 1, below: 2}]", "alerts.rules[0].below"},
		{"built-in name", "rules: [{name: silent, measurement: m, above: 1}]", "alerts.rules[0].name: \"silent\" is taken"},
		{"duplicate name", "rules: [{name: x, measurement: m, above: 1}, {name: x, measurement: m, below: 1}]", "alerts.rules[1].name"},
		{"bad pattern", "rules: [{name: x, measurement: m, above: 1, devices: ['[']}]", "alerts.rules[0].devices[0]"},
		{"unknown kind", "notify: [{kind: pager}]", "alerts.notify[0].kind"},
		{"webhook without url", "notify: [{kind: webhook}]", "alerts.notify[0].url"},
		{"telegram without chat", "notify: [{kind: telegram, bot_token_file: /t}]", "alerts.notify[0].chat_id"},
		{"mqtt wildcard", "notify: [{kind: mqtt, topic_prefix: 'alerts/#'}]", "alerts.notify[0].topic_prefix"},
		{"two webhooks without names", "notify: [{kind: webhook, url: 'http://a/'}, {kind: webhook, url: 'http://b/'}]", "alerts.notify[1].name"},
		{"two webhooks named", "notify: [{kind: webhook, url: 'http://a/'}, {kind: webhook, name: ops, url: 'http://b/'}]", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if _, err := configfile.Load([]byte(c.yaml), "alerts.yaml", &cfg, nil); err != nil {
				t.Fatal(err)
			}
			var v configfile.Validator
			cfg.Validate(v.Section("alerts"))
			err := v.Err()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("problems: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("problems %v, want one with %q", err, c.want)
			}
		})
	}
}
