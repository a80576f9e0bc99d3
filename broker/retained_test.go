package broker

import (
	"log/slog"
	"testing"

	"github.com/mqflux/mqflux/topic"
)

// What a user may retain once it holds its share, and what always fits.
func TestRetainedLimitsAdmit(t *testing.T) {
	c := DefaultConfig()
	c.MaxRetainedPerUser = 2
	c.MaxRetainedBytes = 1 << 10
	l := newRetainedLimits(c, []topic.Template{topic.MustParse(topic.DefaultStatus)}, slog.New(slog.DiscardHandler))
	l.set("dev", "devices/dev/a", []byte("1"))
	l.set("dev", "devices/dev/b", []byte("1"))
	l.set("other", "devices/other/a", make([]byte, 900))
	for _, tc := range []struct {
		user, topic string
		payload     int
		want        string // "" admitted, else the reason
	}{
		{"dev", "devices/dev/c", 1, "count"},        // a third topic
		{"dev", "devices/dev/a", 10, ""},            // a replacement
		{"dev", "devices/dev/a", 1000, "bytes"},     // a replacement past the total
		{"dev", "devices/dev/c", 0, ""},             // a deletion
		{"dev", "devices/dev/status", 1000, ""},     // its own presence
		{"dev", "devices/other/status", 1, "count"}, // another's presence is no exemption
		{"other", "devices/other/b", 200, "bytes"},  // within its count, past the total
		{"other", "devices/dev/a", 1, ""},           // taking over another's topic: its second
		{"", "devices/dev/z", 1, ""},                // the server itself
	} {
		reason, ok := l.admit(tc.user, tc.topic, make([]byte, tc.payload))
		if ok != (tc.want == "") || reason != tc.want {
			t.Errorf("%s retaining %d bytes on %s: reason %q, admitted %v; want %q", tc.user, tc.payload, tc.topic, reason, ok, tc.want)
		}
	}
	// A device's own presence counts toward the total, not its topics.
	l.set("dev", "devices/dev/status", []byte("online"))
	if n := l.perUser["dev"]; n != 2 {
		t.Errorf("dev holds %d topics after retaining its presence, want 2", n)
	}
	l.set("dev", "devices/dev/a", nil)
	if _, ok := l.admit("dev", "devices/dev/c", []byte("1")); !ok {
		t.Error("a deletion did not make room for a new topic")
	}
	if want := int64(len("devices/dev/b") + 1 + len("devices/other/a") + 900 + len("devices/dev/status") + 6); l.bytes != want {
		t.Errorf("%d bytes counted, want %d", l.bytes, want)
	}
}
