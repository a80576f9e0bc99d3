package shim_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/shim"
)

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

var (
	logHeader = map[string]string{"Content-Type": "application/json", "X-authorization": anyKey, "X-node-id": nodeID}
	ingHeader = map[string]string{"Authorization": basic("lada-1", anyKey)}
	goodLine  = `{"sensor": "speed", "value": 55.5, "timestamp": "2012-04-23T18:25:43.511Z"}`
)

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// refusal is one bad request and what must come back.
type refusal struct {
	name    string
	method  string // POST when empty
	path    string
	header  map[string]string
	body    string
	cfg     func(*shim.Config)
	sinkErr error
	after   int // messages the sink accepts before answering sinkErr

	status int
	body_  string // /v1/log-*: the exact body
	detail string // a piece of the detail: Mqflux-Error header or the JSON "error"
	reason string // the metric label; "" when the shim never saw the request
	line   int    // /ingest: the line it stopped at
	stored int    // readings in the sink afterwards (and "accepted" for /ingest)
	logged int    // warn lines logged
}

func TestRefusals(t *testing.T) {
	bigPad := strings.Repeat("0", 100<<10)
	cases := []refusal{
		{name: "wrong method", method: "PUT", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1}`,
			status: 405, body_: "Invalid request method\n", detail: "PUT is not allowed", reason: "method"},
		{name: "bad JSON", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 21.5,}`,
			status: 400, body_: "Bad request\n", detail: "invalid character '}' looking for beginning of object key string at byte 22", reason: "bad_body"},
		{name: "empty body", path: "/v1/log-temperature", header: logHeader, body: ``,
			status: 400, body_: "Bad request\n", detail: "body is not valid JSON", reason: "bad_body"},
		{name: "parameter field missing", path: "/v1/log-temperature", header: logHeader, body: `{"humidity": 40}`,
			status: 400, body_: "Bad request\n", detail: `"temperature" is missing`, reason: "bad_body"},
		{name: "parameter field a string", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": "21.5"}`,
			status: 400, body_: "Bad request\n", detail: `"temperature": want a number, got a string`, reason: "bad_body"},
		{name: "overflowing number", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1e999}`,
			status: 400, body_: "Bad request\n", detail: "1e999 is out of range", reason: "bad_body"},
		{name: "NaN is not JSON", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": NaN}`,
			status: 400, body_: "Bad request\n", detail: "invalid character 'N'", reason: "bad_body"},
		{name: "timestamp not RFC 3339", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1, "timestamp": "2025-03-18 10:00:00"}`,
			status: 400, body_: "Bad request\n", detail: `"timestamp": "2025-03-18 10:00:00" is not an RFC 3339 time`, reason: "bad_body"},
		{name: "trailing data after the object", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1}{"temperature": 2}`,
			status: 400, body_: "Bad request\n", detail: "after top-level value", reason: "bad_body"},
		{name: "two spellings of the field", path: "/v1/log-temperature", header: logHeader, body: `{"Temperature": 1, "TEMPERATURE": 2}`,
			status: 400, body_: "Bad request\n", detail: `"TEMPERATURE" and "Temperature" both name "temperature"`, reason: "bad_body"},
		{name: "status not a string", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1, "status": 3}`,
			status: 400, body_: "Bad request\n", detail: `"status": want a string, got a number`, reason: "bad_body"},
		{name: "missing node id", path: "/v1/log-temperature", header: with(logHeader, "X-node-id", ""), body: `{"temperature": 1}`,
			status: 400, body_: "Bad Request: the X-node-id header is missing: this key serves any device, so the request must name one\n", detail: "X-node-id header is missing", reason: "device_missing"},
		{name: "bad node id", path: "/v1/log-temperature", header: with(logHeader, "X-node-id", "pump/+/#"), body: `{"temperature": 1}`,
			status: 400, body_: "Bad Request: the X-node-id header \"pump/+/#\" is not a device id: 1 to 64 letters, digits, '-', '_' or '.'\n", detail: "X-node-id", reason: "device_invalid"},
		{name: "node id not the key's device", path: "/v1/log-temperature", header: with(logHeader, "X-authorization", pumpKey, "X-node-id", "pump-8"), body: `{"temperature": 1}`,
			status: 403, body_: "Forbidden: the X-node-id header \"pump-8\" is not the device this key belongs to (\"pump-7\")\n", detail: "pump-8", reason: "device_mismatch"},
		{name: "missing key", path: "/v1/log-temperature", header: with(logHeader, "X-authorization", ""), body: `{"temperature": 1}`,
			status: 401, body_: "Unauthorized: the X-authorization header is missing\n", detail: "missing", reason: "key_missing"},
		{name: "wrong key", path: "/v1/log-temperature", header: with(logHeader, "X-authorization", "guessed-key-123"), body: `{"temperature": 1}`,
			status: 401, body_: "Unauthorized: the X-authorization key is not one of the configured keys\n", detail: "not one of the configured keys", reason: "key_wrong"},
		{name: "huge body", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1, "pad": "` + bigPad + `"}`,
			status: 413, body_: "Request Entity Too Large: the body is larger than the limit of 4096 bytes (after decompression too)\n", detail: "4096 bytes", reason: "body_too_large"},
		{name: "small gzip, huge once decompressed", path: "/v1/log-temperature", header: with(logHeader, "Content-Encoding", "gzip"), body: gzipped(`{"temperature": 1, "pad": "` + bigPad + `"}`),
			status: 413, detail: "4096 bytes", reason: "body_too_large"},
		{name: "unknown parameter path", path: "/v1/log-windspeed", header: logHeader, body: `{"windspeed": 1}`,
			status: 404, body_: "404 page not found\n"},
		{name: "sink full", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1}`, sinkErr: ingest.ErrFull,
			status: 503, body_: "Service Unavailable: the spool is full: retry later\n", detail: "spool is full", reason: "spool_full"},
		{name: "sink rejects", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1}`, sinkErr: &ingest.RejectError{Reason: "topic", Detail: "no mapping for this topic"},
			status: 400, body_: "Bad request\n", detail: "topic: no mapping for this topic", reason: "topic", logged: -1},
		{name: "sink cannot write", path: "/v1/log-temperature", header: logHeader, body: `{"temperature": 1}`, sinkErr: errors.New("disk on fire"),
			status: 500, body_: "Internal server error\n", detail: "disk on fire", reason: "spool_error"},

		{name: "ingest: wrong method", method: "GET", path: "/ingest", header: ingHeader,
			status: 405, detail: "GET is not allowed", reason: "method"},
		{name: "ingest: missing basic auth", path: "/ingest", header: map[string]string{}, body: lines(goodLine),
			status: 401, detail: "basic auth", reason: "key_missing"},
		{name: "ingest: wrong key", path: "/ingest", header: map[string]string{"Authorization": basic("lada-1", "guessed-key-123")}, body: lines(goodLine),
			status: 401, detail: "not one of the configured keys", reason: "key_wrong"},
		{name: "ingest: key of a '*' device in the user name, no device named", path: "/ingest", header: map[string]string{"Authorization": basic(anyKey, "")}, body: lines(goodLine),
			status: 400, detail: "X-node-id header (the basic-auth user name holds the key) is missing", reason: "device_missing"},
		{name: "ingest: user name not the key's device", path: "/ingest", header: map[string]string{"Authorization": basic("pump-9", pumpKey)}, body: lines(goodLine),
			status: 403, detail: `"pump-9" is not the device this key belongs to ("pump-7")`, reason: "device_mismatch"},
		{name: "ingest: user name not a device id", path: "/ingest", header: map[string]string{"Authorization": basic("lada 1", anyKey)}, body: lines(goodLine),
			status: 400, detail: `basic-auth user name "lada 1" is not a device id`, reason: "device_invalid"},
		{name: "ingest: bad gzip", path: "/ingest", header: with(ingHeader, "Content-Encoding", "gzip"), body: lines(goodLine),
			status: 400, detail: "not valid gzip", reason: "bad_gzip"},
		{name: "ingest: gzip cut short after two lines", path: "/ingest", header: with(ingHeader, "Content-Encoding", "gzip"), body: cut(gzipped(lines(goodLine, goodLine, strings.Repeat(" ", 500)+goodLine)), 20),
			status: 400, detail: "not valid gzip", reason: "bad_gzip", line: 3, stored: 2},
		{name: "ingest: unsupported encoding", path: "/ingest", header: with(ingHeader, "Content-Encoding", "br"), body: lines(goodLine),
			status: 415, detail: `Content-Encoding "br" is not supported`, reason: "content_encoding"},
		{name: "ingest: bad line in the middle", path: "/ingest", header: ingHeader, body: lines(goodLine, "", goodLine, `{"sensor": "speed", "value": 55.5, "timestamp": "2012-04-23T18:25:43.511Z"`, goodLine),
			status: 400, detail: "line 4: line is not valid JSON", reason: "bad_line", line: 4, stored: 2},
		{name: "ingest: huge line", path: "/ingest", header: ingHeader, body: lines(goodLine, `{"sensor": "speed", "value": 1, "pad": "`+strings.Repeat("x", 2000)+`"}`),
			status: 413, detail: "line 2 is longer than the limit of 1024 bytes", reason: "line_too_long", line: 2, stored: 1},
		{name: "ingest: stream over the limit", path: "/ingest", header: ingHeader, body: lines(goodLine, goodLine, goodLine, goodLine),
			cfg:    func(c *shim.Config) { c.MaxStreamBytes = 256; c.MaxLineBytes = 256 },
			status: 413, detail: "larger than the limit of 256 bytes", reason: "body_too_large", line: 4, stored: 3},
		{name: "ingest: overflowing value", path: "/ingest", header: ingHeader, body: lines(`{"sensor": "speed", "value": -1e400, "timestamp": "2012-04-23T18:25:43.511Z"}`),
			status: 400, detail: `line 1: "value": -1e400 is out of range`, reason: "bad_line", line: 1},
		{name: "ingest: missing timestamp", path: "/ingest", header: ingHeader, body: lines(`{"sensor": "speed", "value": 1}`),
			status: 400, detail: `line 1: "timestamp" is missing`, reason: "bad_line", line: 1},
		{name: "ingest: sensor not a topic level", path: "/ingest", header: ingHeader, body: lines(`{"sensor": "speed/#", "value": 1, "timestamp": "2012-04-23T18:25:43.511Z"}`),
			status: 400, detail: `line 1: "sensor": "speed/#" is not a sensor name`, reason: "bad_line", line: 1},
		{name: "ingest: sink full mid-stream", path: "/ingest", header: ingHeader, body: lines(goodLine, goodLine, goodLine, goodLine), sinkErr: ingest.ErrFull, after: 2,
			status: 503, detail: "line 3: the spool is full", reason: "spool_full", line: 3, stored: 2},
		{name: "ingest: sink rejects a line", path: "/ingest", header: ingHeader, body: lines(goodLine, goodLine), sinkErr: &ingest.RejectError{Reason: "nan", Detail: "value is NaN"}, after: 1,
			status: 400, detail: "line 2: value is NaN", reason: "nan", line: 2, stored: 1, logged: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkRefusal(t, tc) })
	}
}

// cut drops the last n bytes: a gzip stream that ends too soon.
func cut(s string, n int) string { return s[:len(s)-n] }

func checkRefusal(t *testing.T, tc refusal) {
	cfg := testConfig()
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	sink := &recordingSink{err: tc.sinkErr, failAfter: tc.after}
	h := newHarness(t, cfg, sink)
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	got := do(t, newRequest(t, method, h.srv.URL+tc.path, strings.NewReader(tc.body), tc.header))
	if got.status != tc.status {
		t.Fatalf("status %d, want %d; body %q", got.status, tc.status, got.body)
	}
	if tc.path == "/ingest" {
		checkStreamAnswer(t, tc, got)
	} else {
		checkLegacyAnswer(t, tc, got)
	}
	if n := len(sink.messages()); n != tc.stored {
		t.Errorf("sink holds %d readings, want %d", n, tc.stored)
	}
	if (tc.status == 503) != (got.header.Get("Retry-After") == "5") {
		t.Errorf("Retry-After %q with status %d", got.header.Get("Retry-After"), got.status)
	}
	if tc.reason == "" {
		return
	}
	endpoint := tc.path
	if n := h.counter(t, "mqflux_http_rejected_total", map[string]string{"endpoint": endpoint, "reason": tc.reason}); n != 1 {
		t.Errorf("mqflux_http_rejected_total{endpoint=%q,reason=%q} = %v, want 1", endpoint, tc.reason, n)
	}
	if n := h.counter(t, "mqflux_http_readings_total", map[string]string{"endpoint": endpoint}); n != float64(tc.stored) {
		t.Errorf("mqflux_http_readings_total{endpoint=%q} = %v, want %d", endpoint, n, tc.stored)
	}
	// Refused once, logged once; the sink logs its own rejections.
	wantLogs := 1 + tc.logged
	if n := strings.Count(h.logText(), "legacy http request refused"); n != wantLogs {
		t.Errorf("logged %d times, want %d:\n%s", n, wantLogs, h.logText())
	}
	if wantLogs == 1 && !strings.Contains(h.logText(), "reason="+tc.reason) {
		t.Errorf("log does not name reason %s:\n%s", tc.reason, h.logText())
	}
}

func checkLegacyAnswer(t *testing.T, tc refusal, got response) {
	t.Helper()
	if tc.body_ != "" && got.body != tc.body_ {
		t.Errorf("body %q, want %q", got.body, tc.body_)
	}
	if ct := got.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if got.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", got.header.Get("X-Content-Type-Options"))
	}
	if tc.reason != "" && !strings.Contains(got.header.Get("Mqflux-Error"), tc.detail) {
		t.Errorf("Mqflux-Error %q does not contain %q", got.header.Get("Mqflux-Error"), tc.detail)
	}
}

func checkStreamAnswer(t *testing.T, tc refusal, got response) {
	t.Helper()
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var ans struct {
		Error    string `json:"error"`
		Line     int    `json:"line"`
		Reason   string `json:"reason"`
		Accepted *int   `json:"accepted"`
	}
	if err := json.Unmarshal([]byte(got.body), &ans); err != nil {
		t.Fatalf("answer %q is not JSON: %v", got.body, err)
	}
	if !strings.Contains(ans.Error, tc.detail) || ans.Reason != tc.reason || ans.Line != tc.line || ans.Accepted == nil || *ans.Accepted != tc.stored {
		t.Errorf("answer %s, want error containing %q, reason %q, line %d, accepted %d", got.body, tc.detail, tc.reason, tc.line, tc.stored)
	}
	if tc.status == 401 && !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("401 without a Basic challenge: %q", got.header.Get("WWW-Authenticate"))
	}
}
