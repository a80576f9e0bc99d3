package notify

import (
	"context"
	"net/http"
)

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
