package notify

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/internal/kinds"
)

// Config is one entry of alerts.notify: {name?, kind, <the kind's keys>}.
// Kind picks the registered kind, which decodes the entry's other keys
// into its own Settings, strictly. Name tells two notifiers of one kind
// apart (metrics, logs, the outbox); ID is Name, or Kind.
type Config = kinds.Entry[seam, build]

// seam ties Config to the registry of notifier kinds.
type seam struct{}

func (seam) Registry() *kinds.Registry[build] { return registry }

// TopicPrefixes are the prefixes the notifier c publishes under in the
// embedded broker (readers may subscribe below them); none unless its
// settings say so.
func TopicPrefixes(c Config) []string {
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
	k, s, err := c.Resolve()
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
