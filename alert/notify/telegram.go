package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
)

// KindTelegram is Telegram's kind.
const KindTelegram = "telegram"

// DefaultTelegramAPI is the Bot API's address.
const DefaultTelegramAPI = "https://api.telegram.org"

func init() {
	Register(KindTelegram, Kind[*TelegramConfig]{
		Default: func() *TelegramConfig { return &TelegramConfig{} },
		New: func(b Base, c *TelegramConfig, _ Env) (Notifier, error) {
			tok, err := readToken(c.BotTokenFile)
			if err != nil {
				return nil, err
			}
			api := c.APIURL
			if api == "" {
				api = DefaultTelegramAPI
			}
			return &Telegram{Base: b, api: strings.TrimSuffix(api, "/"), token: tok, chatID: c.ChatID, client: c.client()}, nil
		},
	})
}

// TelegramConfig is a Telegram chat's keys: BotTokenFile holds the bot's
// token, ChatID the chat to write to, APIURL the Bot API
// (DefaultTelegramAPI when empty).
type TelegramConfig struct {
	BotTokenFile string `yaml:"bot_token_file"`
	ChatID       string `yaml:"chat_id"`
	APIURL       string `yaml:"api_url,omitempty"`
	HTTPClient   `yaml:",inline"`
}

// Validate checks that the token file and chat are given.
func (c *TelegramConfig) Validate(v *configfile.Validator) {
	v.NonEmpty("bot_token_file", c.BotTokenFile)
	v.NonEmpty("chat_id", c.ChatID)
	if c.APIURL != "" {
		checkURL(v, "api_url", c.APIURL)
	}
	c.validate(v)
}

// Telegram writes to a chat through the Bot API's sendMessage.
//
//   - {kind: telegram, bot_token_file: /etc/mqflux/telegram.token, chat_id: "123456"}
type Telegram struct {
	Base
	api, token, chatID string
	client             *http.Client
}

// Send posts n as a sendMessage. The Bot API answers a flood with 429 and
// parameters.retry_after, which is honoured like Retry-After.
func (t *Telegram) Send(ctx context.Context, n *Notification) error {
	body, err := json.Marshal(struct {
		ChatID string `json:"chat_id"`
		Text   string `json:"text"`
	}{t.chatID, telegramText(n)})
	if err != nil {
		return &Error{Permanent: true, Detail: fmt.Sprintf("encode: %v", err)}
	}
	err = post(ctx, t.client, t.api+"/bot"+t.token+"/sendMessage", t.api+"/bot…/sendMessage", body, http.Header{"Content-Type": {"application/json"}})
	if e, ok := err.(*Error); ok && e.RetryAfter == 0 {
		var answer struct {
			Parameters struct {
				RetryAfter int `json:"retry_after"`
			} `json:"parameters"`
		}
		if json.Unmarshal([]byte(e.Detail), &answer) == nil && answer.Parameters.RetryAfter > 0 {
			e.RetryAfter = min(time.Duration(answer.Parameters.RetryAfter)*time.Second, maxRetryAfter)
		}
	}
	return err
}

// telegramText is the message as a person reads it in a chat; the ID lets
// a repeat (should one ever get through) be told apart.
func telegramText(n *Notification) string {
	mark := "🔴"
	if n.State == Resolved {
		mark = "✅"
	}
	return fmt.Sprintf("%s %s\n%s\nsince %s", mark, n.Title(), n.Message, n.Since.UTC().Format(time.RFC3339))
}
