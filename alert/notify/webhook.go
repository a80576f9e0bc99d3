package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/mqflux/mqflux/internal/configfile"
)

// KindWebhook is the webhook's kind.
const KindWebhook = "webhook"

func init() {
	Register(KindWebhook, Kind[*WebhookConfig]{
		Default: func() *WebhookConfig { return &WebhookConfig{} },
		New: func(b Base, c *WebhookConfig, _ Env) (Notifier, error) {
			tok, err := readToken(c.TokenFile)
			if err != nil {
				return nil, err
			}
			return &Webhook{Base: b, url: c.URL, token: tok, client: c.client()}, nil
		},
	})
}

// WebhookConfig is a webhook's keys.
type WebhookConfig struct {
	URL string `yaml:"url"`
	// TokenFile holds a bearer token; optional.
	TokenFile  string `yaml:"token_file,omitempty"`
	HTTPClient `yaml:",inline"`
}

// Validate checks the URL and the timeout.
func (c *WebhookConfig) Validate(v *configfile.Validator) {
	checkURL(v, "url", c.URL)
	c.validate(v)
}

// Webhook POSTs the Notification as JSON, with its ID in the
// Idempotency-Key header as well as in the body.
//
//   - {kind: webhook, url: "http://127.0.0.1:9000/hook"}
type Webhook struct {
	Base
	url    string
	token  string
	client *http.Client
}

// Send posts n.
func (w *Webhook) Send(ctx context.Context, n *Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return &Error{Permanent: true, Detail: fmt.Sprintf("encode: %v", err)}
	}
	h := http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {n.ID}}
	if w.token != "" {
		h.Set("Authorization", "Bearer "+w.token)
	}
	return post(ctx, w.client, w.url, w.url, body, h)
}
