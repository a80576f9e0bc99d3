package influxwriter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// newV3Sender writes to InfluxDB 3's /api/v3/write_lp with
// accept_partial=false, so that a request is stored whole or not at all
// and the Writer's bisecting finds the bad lines exactly as with the other
// APIs, and no_sync=false, so that a 204 means the WAL holds the lines.
// The token, if any, goes as "Authorization: Bearer".
func newV3Sender(cfg Config) *httpSender {
	q := url.Values{
		"db":             {cfg.Bucket},
		"precision":      {"nanosecond"},
		"accept_partial": {"false"},
		"no_sync":        {"false"},
	}
	writeURL := strings.TrimRight(cfg.URL, "/") + "/api/v3/write_lp?" + q.Encode()
	token := cfg.Token
	auth := func(r *http.Request) {
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
	return newHTTPSender(cfg, writeURL, auth, v3Message)
}

// v3LineError is one refused line in an InfluxDB 3 error answer.
type v3LineError struct {
	OriginalLine string `json:"original_line"`
	LineNumber   int    `json:"line_number"`
	ErrorMessage string `json:"error_message"`
}

// v3Message reads InfluxDB 3's {"error": "...", "data": ...}, where data
// is one line error when partial writes are refused and a list of them
// when they are accepted; other answers are plain text.
func v3Message(h http.Header, body []byte) string {
	var answer struct {
		Error string          `json:"error"`
		Data  json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Error == "" {
		return plainMessage(h, body)
	}
	var lines []v3LineError
	data := bytes.TrimSpace(answer.Data)
	switch {
	case bytes.HasPrefix(data, []byte("[")):
		_ = json.Unmarshal(data, &lines)
	case bytes.HasPrefix(data, []byte("{")):
		var one v3LineError
		if json.Unmarshal(data, &one) == nil {
			lines = append(lines, one)
		}
	}
	var b strings.Builder
	b.WriteString(answer.Error)
	for _, l := range lines {
		fmt.Fprintf(&b, "; line %d: %s (%s)", l.LineNumber, l.ErrorMessage, l.OriginalLine)
	}
	return b.String()
}
