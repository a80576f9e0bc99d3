package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var since = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func firing() *Notification {
	v := 93.0
	return &Notification{ID: "pi-1:disk-full:firing:1", Device: "pi-1", Rule: "disk-full", State: Firing, Since: since, Value: &v, Message: "disk 93%"}
}

// request is what a receiver saw.
type request struct {
	path   string
	header http.Header
	body   string
}

// serve answers every request with status and header, recording it.
func serve(t *testing.T, status int, header map[string]string, answer string) (*httptest.Server, chan request) {
	seen := make(chan request, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- request{r.URL.Path, r.Header, string(b)}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func tokenFile(t *testing.T, tok string) string {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReceivers(t *testing.T) {
	cases := []struct {
		kind  string
		check func(t *testing.T, r request)
	}{
		{KindWebhook, func(t *testing.T, r request) {
			var n Notification
			if err := json.Unmarshal([]byte(r.body), &n); err != nil || n.ID != firing().ID || *n.Value != 93 || r.header.Get("Idempotency-Key") != n.ID {
				t.Errorf("webhook got %s (%v), key %q", r.body, err, r.header.Get("Idempotency-Key"))
			}
			for _, k := range []string{`"device":"pi-1"`, `"rule":"disk-full"`, `"state":"firing"`, `"since":"2026-11-30T12:00:00Z"`, `"value":93`, `"message":"disk 93%"`} {
				if !strings.Contains(r.body, k) {
					t.Errorf("webhook body %s lacks %s", r.body, k)
				}
			}
		}},
		{KindTelegram, func(t *testing.T, r request) {
			var m struct{ ChatID, Text string }
			if r.path != "/botsecret/sendMessage" || json.Unmarshal([]byte(r.body), &m) != nil || !strings.Contains(r.body, `"chat_id":"123456"`) || !strings.Contains(m.Text, "pi-1: disk-full firing") {
				t.Errorf("telegram got %s %s", r.path, r.body)
			}
		}},
		{KindNtfy, func(t *testing.T, r request) {
			if r.body != "disk 93%" || r.header.Get("Title") != "pi-1: disk-full firing" || r.header.Get("Priority") != "high" || r.header.Get("Authorization") != "Bearer secret" {
				t.Errorf("ntfy got %s %v", r.body, r.header)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			srv, seen := serve(t, http.StatusOK, nil, `{"ok":true}`)
			tok := tokenFile(t, "secret")
			settings := map[string]Settings{
				KindWebhook:  &WebhookConfig{URL: srv.URL + "/hook"},
				KindTelegram: &TelegramConfig{BotTokenFile: tok, ChatID: "123456", APIURL: srv.URL},
				KindNtfy:     &NtfyConfig{URL: srv.URL + "/hook", TokenFile: tok},
			}
			n, err := New(Config{Kind: c.kind, Settings: settings[c.kind]}, Env{})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Send(context.Background(), firing()); err != nil {
				t.Fatal(err)
			}
			c.check(t, <-seen)
		})
	}
}

// Answers that are not acceptances: which are final, which are retried
// and after how long.
func TestAnswers(t *testing.T) {
	cases := []struct {
		kind      string
		status    int
		header    map[string]string
		answer    string
		permanent bool
		after     time.Duration
	}{
		{KindWebhook, 503, map[string]string{"Retry-After": "7"}, "", false, 7 * time.Second},
		{KindWebhook, 500, nil, "", false, 0},
		{KindWebhook, 429, map[string]string{"Retry-After": "99999"}, "", false, time.Hour},
		{KindWebhook, 404, nil, "no such hook", true, 0},
		{KindTelegram, 429, nil, `{"ok":false,"error_code":429,"parameters":{"retry_after":12}}`, false, 12 * time.Second},
		{KindTelegram, 400, nil, `{"ok":false,"description":"Bad Request: chat not found"}`, true, 0},
		{KindNtfy, 403, nil, "forbidden", true, 0},
	}
	for _, c := range cases {
		srv, _ := serve(t, c.status, c.header, c.answer)
		settings := map[string]Settings{
			KindWebhook:  &WebhookConfig{URL: srv.URL},
			KindTelegram: &TelegramConfig{BotTokenFile: tokenFile(t, "x"), ChatID: "1", APIURL: srv.URL},
			KindNtfy:     &NtfyConfig{URL: srv.URL},
		}
		n, err := New(Config{Kind: c.kind, Settings: settings[c.kind]}, Env{})
		if err != nil {
			t.Fatal(err)
		}
		err = n.Send(context.Background(), firing())
		if err == nil || IsPermanent(err) != c.permanent || RetryAfter(err) != c.after || (c.answer != "" && !strings.Contains(err.Error(), c.answer)) {
			t.Errorf("%s %d: %v (permanent %v, after %v); want permanent %v, after %v", c.kind, c.status, err, IsPermanent(err), RetryAfter(err), c.permanent, c.after)
		}
	}
	// No answer at all is retried.
	n, _ := New(Config{Kind: KindWebhook, Settings: &WebhookConfig{URL: "http://127.0.0.1:1/hook"}}, Env{})
	if err := n.Send(context.Background(), firing()); err == nil || IsPermanent(err) {
		t.Errorf("unreachable receiver: %v, want a retryable error", err)
	}
}

type publisher struct {
	topic   string
	payload []byte
	retain  bool
}

func (p *publisher) Publish(topic string, payload []byte, retain bool, _ byte) error {
	p.topic, p.payload, p.retain = topic, payload, retain
	return nil
}

func TestMQTT(t *testing.T) {
	var p publisher
	n, err := New(Config{Kind: KindMQTT, Settings: &MQTTConfig{TopicPrefix: "alerts"}}, Env{Publisher: &p})
	if err != nil {
		t.Fatal(err)
	}
	f := firing()
	if err := n.Send(context.Background(), f); err != nil || p.topic != "alerts/pi-1/disk-full" || !p.retain || !strings.Contains(string(p.payload), `"state":"firing"`) {
		t.Errorf("firing: %v, published %q %s retained %v", err, p.topic, p.payload, p.retain)
	}
	f.State = Resolved
	if err := n.Send(context.Background(), f); err != nil || len(p.payload) != 0 || !p.retain {
		t.Errorf("resolved: %v, published %s retained %v; want an empty retained payload", err, p.payload, p.retain)
	}
}

// The bot's token is in the Bot API's URL; an error must not show it.
func TestTelegramErrorHidesToken(t *testing.T) {
	n, err := New(Config{Kind: KindTelegram, Settings: &TelegramConfig{BotTokenFile: tokenFile(t, "very-secret"), ChatID: "1", APIURL: "http://127.0.0.1:1"}}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Send(context.Background(), firing())
	if err == nil || strings.Contains(err.Error(), "very-secret") || !strings.Contains(err.Error(), "127.0.0.1:1/bot…/sendMessage") {
		t.Errorf("error %v: want one naming the API without the token", err)
	}
}
