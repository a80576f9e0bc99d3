// Package notify delivers alert notifications. Each kind of receiver (a
// webhook, Telegram, ntfy, an MQTT topic) is one small Notifier; the
// alert package keeps every notification on disk until its notifier has
// accepted it, so a notifier only has to say whether a send was accepted,
// should be tried again (and when), or was refused for good.
//
// Kinds register themselves: each kind's file calls Register from its
// init with its settings (the entry's keys besides name and kind, with
// their defaults and a Validate) and how to build it. An alerts.notify
// entry {name?, kind, <the kind's keys>} is decoded by its kind, strictly,
// so a key another kind has is reported with its line.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mqflux/mqflux/internal/backoff"
)

// States of an alert.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// Notification is one alert transition, as every receiver is told of it.
// It is also the webhook's JSON body.
type Notification struct {
	// ID is the same for every attempt at the same transition, across
	// restarts: receivers that may see it twice drop the repeat by it.
	ID     string    `json:"id"`
	Device string    `json:"device"`
	Rule   string    `json:"rule"`  // silent, offline, or a threshold rule's name
	State  string    `json:"state"` // firing | resolved
	Since  time.Time `json:"since"` // when this state began
	// Time is when mqflux saw the transition (for a firing, Since may
	// be earlier: the last reading, or when a threshold was crossed).
	Time time.Time `json:"time"`
	// Value is the reading that crossed (or came back over) a threshold.
	Value       *float64 `json:"value,omitempty"`
	Measurement string   `json:"measurement,omitempty"`
	Field       string   `json:"field,omitempty"`
	// Started is when a resolved alert had fired.
	Started *time.Time `json:"started,omitempty"`
	Message string     `json:"message"`
	// Reason says why a resolution came other than from the device:
	// "forgotten" when the device was removed from the registry (by an
	// admin, or by alerts.forget_after). Empty otherwise.
	Reason string `json:"reason,omitempty"`
}

// Title is a short headline: "pi-1: disk-full firing".
func (n *Notification) Title() string {
	return fmt.Sprintf("%s: %s %s", n.Device, n.Rule, n.State)
}

// Notifier sends notifications to one receiver.
type Notifier interface {
	// Name labels the notifier in metrics, logs and the outbox: its kind,
	// unless the configuration names it.
	Name() string
	// Kind is the receiver's kind, as registered: webhook, telegram, ...
	Kind() string
	// Send delivers n. nil means the receiver accepted it; an *Error
	// says whether and when to try again; any other error is retried.
	Send(ctx context.Context, n *Notification) error
}

// Base is what a notifier embeds for its name.
type Base struct {
	name, kind string
}

// Name is the configured name, or the kind.
func (b Base) Name() string { return b.name }

// Kind is the receiver's kind.
func (b Base) Kind() string { return b.kind }

// Error is a receiver's answer that was not an acceptance.
type Error struct {
	// Permanent: the receiver refused the notification for good (a 4xx
	// other than 408 and 429); sending it again would not help.
	Permanent bool
	// RetryAfter is how long the receiver asked to be left alone (429 or
	// 503 with Retry-After); 0 leaves it to the backoff.
	RetryAfter time.Duration
	Status     int
	Detail     string // the receiver's answer, shortened
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("status %d: %s", e.Status, e.Detail)
	}
	return e.Detail
}

// IsPermanent reports whether err says never to try again.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter is how long err asks to wait before the next attempt (0: the
// sender's backoff decides).
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// answerError turns an HTTP answer that is not a 2xx into an *Error: 408,
// 429 and 5xx are worth retrying, any other status is final.
func answerError(resp *http.Response, body []byte, now time.Time) *Error {
	e := &Error{Status: resp.StatusCode, Detail: shorten(body)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	default:
		e.Permanent = true
	}
	return e
}

// maxRetryAfter caps what a receiver may ask for, so that a bogus header
// cannot park the outbox for days.
const maxRetryAfter = time.Hour

// parseRetryAfter reads delay-seconds or an HTTP date, capped.
func parseRetryAfter(h string, now time.Time) time.Duration {
	d, _ := backoff.ParseRetryAfter(h, now)
	return min(d, maxRetryAfter)
}

func shorten(b []byte) string {
	const limit = 512
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}
