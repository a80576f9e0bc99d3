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
		{"unknown kind", "notify: [{kind: pager}]", "alerts.yaml:2:19: alerts.notify[0].kind: \"pager\" is not a kind of notifier; known kinds: mqtt, ntfy, telegram, webhook"},
		{"no kind", "notify: [{url: 'http://a/'}]", "alerts.notify[0].kind: missing"},
		{"a key of another kind", "notify:\n  - kind: webhook\n    url: 'http://a/'\n    chat_id: '1'", "alerts.yaml:5:7: alerts.notify[0].chat_id: unknown key; known keys here: timeout, token_file, url"},
		{"a value of the wrong type", "notify: [{kind: ntfy, url: 'http://a/', timeout: soon}]", "alerts.notify[0].timeout: want a duration"},
		{"a timeout out of range", "notify: [{kind: webhook, url: 'http://a/', timeout: 1h}]", "alerts.notify[0].timeout"},
		{"webhook without url", "notify: [{kind: webhook}]", "alerts.notify[0].url"},
		{"telegram without chat", "notify: [{kind: telegram, bot_token_file: /t}]", "alerts.notify[0].chat_id"},
		{"mqtt wildcard", "notify: [{kind: mqtt, topic_prefix: 'alerts/#'}]", "alerts.notify[0].topic_prefix"},
		{"two webhooks without names", "notify: [{kind: webhook, url: 'http://a/'}, {kind: webhook, url: 'http://b/'}]", "alerts.notify[1].name"},
		{"two webhooks named", "notify: [{kind: webhook, url: 'http://a/'}, {kind: webhook, name: ops, url: 'http://b/'}]", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			// A problem the kind finds while decoding (an unknown kind or
			// key) is reported by Load, the rest by Validate.
			err := loadAlerts(c.yaml, &cfg)
			if err == nil {
				var v configfile.Validator
				cfg.Validate(v.Section("alerts"))
				err = v.Err()
			}
			switch {
			case c.want == "" && err != nil:
				t.Errorf("problems: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("problems %v, want one with %q", err, c.want)
			}
		})
	}
}

// loadAlerts reads an alerts section as the server's loader does, under the
// key alerts.
func loadAlerts(doc string, cfg *Config) error {
	var indented strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		indented.WriteString("  " + line + "\n")
	}
	wrap := struct {
		Alerts *Config `yaml:"alerts"`
	}{cfg}
	_, err := configfile.Load([]byte("alerts:\n"+indented.String()), "alerts.yaml", &wrap, nil)
	return err
}
