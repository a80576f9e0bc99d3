package hostlogs

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// Line is one log line.
type Line struct {
	Time    time.Time
	Unit    string
	Level   string
	Message string
	PID     int // 0: unknown
}

// payload is the JSON object the server's logs template takes: fields
// message and pid, tags unit and level, the time of the line.
type payload struct {
	Message string            `json:"message"`
	PID     int               `json:"pid,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Time    string            `json:"time"`
}

// encode is the line's queue record and the element of a published batch.
func (l Line) encode() []byte {
	p := payload{Message: l.Message, PID: l.PID, Time: l.Time.UTC().Format(time.RFC3339Nano)}
	if l.Unit != "" || l.Level != "" {
		p.Tags = map[string]string{}
		if l.Unit != "" {
			p.Tags["unit"] = l.Unit
		}
		if l.Level != "" {
			p.Tags["level"] = l.Level
		}
	}
	b, _ := json.Marshal(p) // strings and ints only
	return b
}

// cleanMessage makes text a message the server stores as it is: invalid
// UTF-8 becomes U+FFFD, line breaks and other control characters (a tab
// excepted) become spaces (a multi-line journal entry stays one line), and
// a text longer than max bytes is cut at a character boundary and ends
// with "…".
func cleanMessage(text string, max int) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, text)
	text = strings.TrimRight(text, " ")
	if len(text) <= max {
		return text
	}
	const ellipsis = "…"
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + ellipsis
}

// cleanTag makes text a tag value: printable, no backslash, at most 64
// bytes; "" when nothing is left.
func cleanTag(text string) string {
	text = strings.ToValidUTF8(text, "")
	text = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '\\' {
			return '_'
		}
		return r
	}, text)
	if len(text) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	return text
}
