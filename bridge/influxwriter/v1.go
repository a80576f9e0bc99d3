package influxwriter

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// newV1Sender writes to InfluxDB 1.x's /write (VictoriaMetrics serves the
// same endpoint, taking db as a tag). Bucket is "db" or "db/rp"; a Token
// "user:password" goes as basic authentication, which keeps it out of the
// URL and so out of access logs; any other token goes as
// "Authorization: Token", as InfluxDB 2 and 3 take it on this endpoint.
func newV1Sender(cfg Config) *httpSender {
	db, rp, _ := strings.Cut(cfg.Bucket, "/")
	q := url.Values{"db": {db}, "precision": {"ns"}}
	if rp != "" {
		q.Set("rp", rp)
	}
	writeURL := strings.TrimRight(cfg.URL, "/") + "/write?" + q.Encode()
	token := cfg.Token
	auth := func(r *http.Request) {
		if user, password, ok := strings.Cut(token, ":"); ok {
			r.SetBasicAuth(user, password)
		} else if token != "" {
			r.Header.Set("Authorization", "Token "+token)
		}
	}
	return newHTTPSender(cfg, writeURL, auth, v1Message)
}

// v1Message reads InfluxDB 1.x's {"error": "..."}; VictoriaMetrics and
// proxies answer plain text.
func v1Message(h http.Header, body []byte) string {
	var answer struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &answer) == nil && answer.Error != "" {
		return answer.Error
	}
	return plainMessage(h, body)
}
