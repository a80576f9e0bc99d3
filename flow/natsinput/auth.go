package natsinput

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mqflux/mqflux/topic"
)

// User is one of mqflux's broker users as AuthBlock needs it.
type User struct {
	Name, PasswordHash, Role string
}

// AuthBlock writes a nats-server authorization block that gives mqflux's
// users the rights its broker gives them, on the subjects nats-server's
// MQTT gateway makes of the layout's topics (TopicToSubject): a device
// publishes its own templates' topics and anything below its own level
// and subscribes below its own level; a gateway publishes every template
// topic; a reader subscribes to every template topic; an admin may do
// anything. Passwords stay bcrypt hashes, which nats-server checks as
// they are. QoS 1 subscribers also need $MQTT.sub.>, where nats-server
// delivers their messages.
func AuthBlock(users []User, layout []topic.Template) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by mqflux nats-auth from the broker's users and topic layout.\n")
	b.WriteString("# Add a user for mqflux bridge itself (JetStream API, $MQTT.msgs.>, _INBOX.>).\n")
	b.WriteString("authorization {\n  users: [\n")
	for _, u := range users {
		pub, sub, err := rights(u, layout)
		if err != nil {
			return "", fmt.Errorf("user %s: %w", u.Name, err)
		}
		fmt.Fprintf(&b, "    {user: %s, password: %s", strconv.Quote(u.Name), strconv.Quote(u.PasswordHash))
		if u.Role != "admin" {
			fmt.Fprintf(&b, ",\n     permissions: {publish: %s, subscribe: %s}", perm(pub), perm(sub))
		}
		b.WriteString("}\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}

func rights(u User, layout []topic.Template) (pub, sub []string, err error) {
	switch u.Role {
	case "admin":
		return nil, nil, nil
	case "device":
		for _, t := range layout {
			s, ok, err := subject(t, u.Name)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			pub = append(pub, s)
			if below, ok := belowDevice(t, u.Name); ok {
				pub, sub = append(pub, below), append(sub, below)
			}
		}
	case "gateway", "reader":
		for _, t := range layout {
			s, _, err := subject(t, "")
			if err != nil {
				return nil, nil, err
			}
			if u.Role == "gateway" {
				pub = append(pub, s)
				continue
			}
			sub = append(sub, s)
			// devices/# is a reader's usual filter: nats-server subscribes
			// it as devices and devices.>.
			if prefix := literalPrefix(t); prefix != "" {
				sub = append(sub, prefix, prefix+".>")
			}
		}
	default:
		return nil, nil, fmt.Errorf("unknown role %q", u.Role)
	}
	if len(sub) > 0 || u.Role == "reader" {
		sub = append(sub, "$MQTT.sub.>")
	}
	return dedupe(pub), dedupe(sub), nil
}

// subject is the NATS subject covering the template's topics; with device
// set, only that device's (ok is false for a template without {device}).
func subject(t topic.Template, device string) (string, bool, error) {
	levels := t.Levels()
	parts := make([]string, 0, len(levels))
	pinned := device == ""
	for i, l := range levels {
		switch {
		case l.Kind == topic.Literal:
			s, err := TopicToSubject(l.Text)
			if err != nil {
				return "", false, fmt.Errorf("template %s: %w", t.String(), err)
			}
			parts = append(parts, s)
		case l.Kind == topic.Capture && l.Text == topic.Device && device != "":
			s, err := TopicToSubject(device)
			if err != nil {
				return "", false, fmt.Errorf("device name %q: %w", device, err)
			}
			parts, pinned = append(parts, s), true
		case l.Kind == topic.Rest || l.Kind == topic.Multi:
			if i != len(levels)-1 {
				return "", false, fmt.Errorf("template %s: a multi-level capture before the last level has no NATS subject", t.String())
			}
			parts = append(parts, ">")
		default:
			parts = append(parts, "*")
		}
	}
	return strings.Join(parts, "."), pinned, nil
}

// belowDevice is everything below the device's own level of t.
func belowDevice(t topic.Template, device string) (string, bool) {
	var parts []string
	for _, l := range t.Levels() {
		switch {
		case l.Kind == topic.Literal:
			s, err := TopicToSubject(l.Text)
			if err != nil {
				return "", false
			}
			parts = append(parts, s)
		case l.Kind == topic.Capture && l.Text == topic.Device:
			s, err := TopicToSubject(device)
			if err != nil {
				return "", false
			}
			return strings.Join(append(parts, s, ">"), "."), true
		default:
			parts = append(parts, "*")
		}
	}
	return "", false
}

func dedupe(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func list(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// literalPrefix is the subject of t's leading literal levels.
func literalPrefix(t topic.Template) string {
	var parts []string
	for _, l := range t.Levels() {
		if l.Kind != topic.Literal {
			break
		}
		s, err := TopicToSubject(l.Text)
		if err != nil {
			return ""
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ".")
}

// perm allows subjects, or denies everything when there are none (an
// empty allow list would restrict nothing).
func perm(subjects []string) string {
	if len(subjects) == 0 {
		return `{deny: [">"]}`
	}
	return "{allow: " + list(subjects) + "}"
}
