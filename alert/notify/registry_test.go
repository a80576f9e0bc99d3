package notify

import (
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Registering a kind twice is a programming error, as with database/sql
// drivers: it panics rather than letting one kind shadow another.
func TestRegisterTwicePanics(t *testing.T) {
	k := Kind[*WebhookConfig]{
		Default: func() *WebhookConfig { return &WebhookConfig{} },
		New:     func(Base, *WebhookConfig, Env) (Notifier, error) { return nil, nil },
	}
	for _, name := range []string{KindWebhook, ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			Register(name, k)
		}()
	}
	if got := strings.Join(Kinds(), ","); got != "mqtt,ntfy,telegram,webhook" {
		t.Errorf("kinds %s", got)
	}
}

// Each entry is decoded by its kind: its own keys land in its settings,
// and every problem names the file, line, column and key.
func TestDecodeByKind(t *testing.T) {
	var cfg struct {
		Notify []Config `yaml:"notify"`
	}
	doc := "notify:\n  - {kind: telegram, name: ops, bot_token_file: /t, chat_id: '7', timeout: 3s}\n  - {kind: mqtt, topic_prefix: alerts}\n"
	if _, err := configfile.Load([]byte(doc), "c.yaml", &cfg, nil); err != nil {
		t.Fatal(err)
	}
	tg, ok := cfg.Notify[0].Settings.(*TelegramConfig)
	if !ok || cfg.Notify[0].ID() != "ops" || tg.ChatID != "7" || tg.Timeout.Seconds() != 3 {
		t.Errorf("telegram entry %+v %+v", cfg.Notify[0], tg)
	}
	if p := TopicPrefixes(cfg.Notify[1]); cfg.Notify[1].ID() != "mqtt" || len(p) != 1 || p[0] != "alerts" {
		t.Errorf("mqtt entry %+v, prefixes %v", cfg.Notify[1], p)
	}

	bad := "notify:\n  - kind: mqtt\n    topic_prefix: alerts\n    url: http://x/\n  - {kind: webhook, url: 7s, timeout: [1]}\n"
	_, err := configfile.Load([]byte(bad), "c.yaml", &cfg, nil)
	for _, want := range []string{
		"c.yaml:4:5: notify[0].url: unknown key; known keys here: topic_prefix",
		"c.yaml:5:39: notify[1].timeout: cannot unmarshal",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems %v, want %q", err, want)
		}
	}
}
