package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

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
