package notify

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Config is one entry of alerts.notify. Kind picks the receiver; each kind
// reads only its own keys.
type Config struct {
	Kind string `yaml:"kind"` // webhook | telegram | ntfy | mqtt
	// Name tells two notifiers of one kind apart (metrics, logs, the
	// outbox); the kind when empty.
	Name string `yaml:"name,omitempty"`
	// URL is where webhook and ntfy POST (ntfy: the topic's URL).
	URL string `yaml:"url,omitempty"`
	// BotTokenFile holds the Telegram bot's token, ChatID the chat to
	// write to, APIURL the Bot API (https://api.telegram.org).
	BotTokenFile string `yaml:"bot_token_file,omitempty"`
	ChatID       string `yaml:"chat_id,omitempty"`
	APIURL       string `yaml:"api_url,omitempty"`
	// TopicPrefix is where the mqtt notifier publishes:
	// {topic_prefix}/{device}/{rule}.
	TopicPrefix string `yaml:"topic_prefix,omitempty"`
	// TokenFile holds a bearer token for ntfy (or the webhook); optional.
	TokenFile string `yaml:"token_file,omitempty"`
	// Timeout bounds one attempt; 10s when 0.
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

// Kinds of notifier.
const (
	KindWebhook  = "webhook"
	KindTelegram = "telegram"
	KindNtfy     = "ntfy"
	KindMQTT     = "mqtt"
)

// DefaultTelegramAPI is the Bot API's address.
const DefaultTelegramAPI = "https://api.telegram.org"

const defaultTimeout = 10 * time.Second

// ID is the notifier's name: Name, or Kind.
func (c *Config) ID() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Kind
}

// Validate checks one notifier's keys. It does not read token files: they
// may be installed after the configuration is checked.
func (c *Config) Validate(v *configfile.Validator) {
	v.OneOf("kind", c.Kind, KindWebhook, KindTelegram, KindNtfy, KindMQTT)
	if c.Name != "" && !configfile.IsName(c.Name) {
		v.Add("name", "%q is not a name (letters, digits, - and _)", c.Name)
	}
	if c.Timeout != 0 {
		v.DurationBetween("timeout", c.Timeout, 100*time.Millisecond, 5*time.Minute)
	}
	switch c.Kind {
	case KindWebhook, KindNtfy:
		checkURL(v, "url", c.URL)
	case KindTelegram:
		v.NonEmpty("bot_token_file", c.BotTokenFile)
		v.NonEmpty("chat_id", c.ChatID)
		if c.APIURL != "" {
			checkURL(v, "api_url", c.APIURL)
		}
	case KindMQTT:
		p := c.TopicPrefix
		if p == "" || strings.ContainsAny(p, "+#") || strings.HasPrefix(p, "$") || strings.HasSuffix(p, "/") {
			v.Add("topic_prefix", "%q: want a topic prefix without wildcards, a leading $ or a trailing /, e.g. alerts", p)
		}
	}
}

func checkURL(v *configfile.Validator, key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.Add(key, "%q: want an http:// or https:// URL", s)
	}
}

// Publisher publishes a message through the broker; the mqtt notifier
// needs one.
type Publisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// New builds the notifier c describes. pub is used by the mqtt kind only.
func New(c Config, pub Publisher) (Notifier, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	client := &http.Client{Timeout: timeout}
	base := Base{name: c.ID(), kind: c.Kind}
	switch c.Kind {
	case KindWebhook:
		tok, err := readToken(c.TokenFile)
		if err != nil {
			return nil, err
		}
		return &Webhook{Base: base, url: c.URL, token: tok, client: client}, nil
	case KindTelegram:
		tok, err := readToken(c.BotTokenFile)
		if err != nil {
			return nil, err
		}
		api := c.APIURL
		if api == "" {
			api = DefaultTelegramAPI
		}
		return &Telegram{Base: base, api: strings.TrimSuffix(api, "/"), token: tok, chatID: c.ChatID, client: client}, nil
	case KindNtfy:
		tok, err := readToken(c.TokenFile)
		if err != nil {
			return nil, err
		}
		return &Ntfy{Base: base, url: c.URL, token: tok, client: client}, nil
	case KindMQTT:
		if pub == nil {
			return nil, fmt.Errorf("notifier %s: no broker to publish through", c.ID())
		}
		return &MQTT{Base: base, prefix: c.TopicPrefix, pub: pub}, nil
	}
	return nil, fmt.Errorf("notifier %s: unknown kind %q", c.ID(), c.Kind)
}

// readToken reads a secret from a file ("" reads nothing).
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return tok, nil
}
