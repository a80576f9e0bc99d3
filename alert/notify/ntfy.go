package notify

import (
	"context"
	"net/http"

	"github.com/mqflux/mqflux/internal/configfile"
)

// KindNtfy is ntfy's kind.
const KindNtfy = "ntfy"

func init() {
	Register(KindNtfy, Kind[*NtfyConfig]{
		Default: func() *NtfyConfig { return &NtfyConfig{} },
		New: func(b Base, c *NtfyConfig, _ Env) (Notifier, error) {
			tok, err := readToken(c.TokenFile)
			if err != nil {
				return nil, err
			}
			return &Ntfy{Base: b, url: c.URL, token: tok, client: c.client()}, nil
		},
	})
}

// NtfyConfig is an ntfy topic's keys.
type NtfyConfig struct {
	URL string `yaml:"url"` // the topic's URL
	// TokenFile holds a bearer token; optional.
	TokenFile  string `yaml:"token_file,omitempty"`
	HTTPClient `yaml:",inline"`
}

// Validate checks the URL and the timeout.
func (c *NtfyConfig) Validate(v *configfile.Validator) {
	checkURL(v, "url", c.URL)
	c.validate(v)
}

// Ntfy publishes to an ntfy topic: a plain POST of the message, with
// the title, priority and tags in headers.
//
//   - {kind: ntfy, url: "https://ntfy.example.org/mqflux"}
type Ntfy struct {
	Base
	url    string
	token  string
	client *http.Client
}

// Send posts n. A firing alert has high priority, a resolution the
// default one.
func (s *Ntfy) Send(ctx context.Context, n *Notification) error {
	h := http.Header{
		"Content-Type": {"text/plain; charset=utf-8"},
		"Title":        {n.Title()},
		"Priority":     {"high"},
		"Tags":         {"rotating_light," + n.Rule},
		"X-Message-Id": {n.ID},
	}
	if n.State == Resolved {
		h.Set("Priority", "default")
		h.Set("Tags", "white_check_mark,"+n.Rule)
	}
	if s.token != "" {
		h.Set("Authorization", "Bearer "+s.token)
	}
	return post(ctx, s.client, s.url, s.url, []byte(n.Message), h)
}
