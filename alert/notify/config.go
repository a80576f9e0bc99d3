package notify

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mqflux/mqflux/internal/configfile"
)

// Config is one entry of alerts.notify: {name?, kind, <the kind's keys>}.
// Kind picks the registered kind, which decodes the entry's other keys
// into its own Settings, strictly.
type Config struct {
	Kind string
	// Name tells two notifiers of one kind apart (metrics, logs, the
	// outbox); the kind when empty.
	Name string
	// Settings are the kind's own keys; the kind's defaults when nil.
	Settings Settings
}

// ID is the notifier's name: Name, or Kind.
func (c *Config) ID() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Kind
}

// UnmarshalYAML reads name and kind, then hands the other keys to the
// kind: an unknown key is reported with its line, under the entry's path.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	name, kind, s, err := registry.Decode(n)
	if err != nil {
		return err
	}
	*c = Config{Kind: kind, Name: name, Settings: s}
	return nil
}

// Validate checks one notifier's keys.
func (c *Config) Validate(v *configfile.Validator) {
	registry.Validate(v, c.Name, c.Kind, c.Settings)
}

// TopicPrefixes are the prefixes the notifier publishes under in the
// embedded broker (readers may subscribe below them); none unless its
// settings say so.
func (c *Config) TopicPrefixes() []string {
	if t, ok := c.Settings.(BrokerTopics); ok {
		return t.TopicPrefixes()
	}
	return nil
}

// BrokerTopics is implemented by the settings of a kind that publishes
// through the embedded broker.
type BrokerTopics interface {
	TopicPrefixes() []string
}

// Publisher publishes a message through the broker; the mqtt notifier
// needs one.
type Publisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// New builds the notifier c describes, with what env lends.
func New(c Config, env Env) (Notifier, error) {
	k, s, err := registry.Resolve(c.Kind, c.Settings)
	if err != nil {
		return nil, fmt.Errorf("notifier %s: %w", c.ID(), err)
	}
	n, err := k.New(Base{name: c.ID(), kind: c.Kind}, s, env)
	if err != nil {
		return nil, fmt.Errorf("notifier %s: %w", c.ID(), err)
	}
	return n, nil
}

// HTTPClient is the key every kind that speaks HTTP has; such a kind
// embeds it inline.
type HTTPClient struct {
	// Timeout bounds one attempt; 10s when 0.
	Timeout time.Duration `yaml:"timeout,omitempty"`
}

const defaultTimeout = 10 * time.Second

func (h *HTTPClient) validate(v *configfile.Validator) {
	if h.Timeout != 0 {
		v.DurationBetween("timeout", h.Timeout, 100*time.Millisecond, 5*time.Minute)
	}
}

func (h *HTTPClient) client() *http.Client {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	return &http.Client{Timeout: timeout}
}

func checkURL(v *configfile.Validator, key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.Add(key, "%q: want an http:// or https:// URL", s)
	}
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
