package shim_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// replay writes a request exactly as an old client put it on the wire and
// reads the answer.
func replay(t *testing.T, h *harness, raw string) response {
	t.Helper()
	addr := strings.TrimPrefix(h.srv.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, strings.ReplaceAll(raw, "HOST", addr)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// pythonPost is what the Raspberry Pi logger of seed 000 (Python requests
// 2.x, json=...) sends, captured off the wire.
func pythonPost(path, key, node, body string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: HOST\r\nUser-Agent: python-requests/2.34.2\r\n" +
		"Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n" +
		"Content-Type: application/json\r\nX-authorization: " + key + "\r\nX-node-id: " + node + "\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

// wantHeaders compares the headers the original's clients could see. Date
// changes with every answer; every other header must be exactly these.
func wantHeaders(t *testing.T, got http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Get(k), v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && k != "Date" && k != "Mqflux-Error" && k != "Allow" {
			t.Errorf("unexpected header %s: %q", k, got.Get(k))
		}
	}
}

func TestLegacyReplay(t *testing.T) {
	textOK := map[string]string{"Content-Type": "text/plain; charset=utf-8"}
	textErr := map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
	cases := []struct {
		name        string
		raw         string
		status      int
		body        string
		header      map[string]string
		wantTopic   string
		wantPayload string // "NOW" stands for the time of receipt
	}{
		{
			name:   "temperature with timestamp",
			raw:    pythonPost("/v1/log-temperature", anyKey, nodeID, `{"temperature": 21.5, "timestamp": "2025-03-18T10:00:00.123456+00:00"}`),
			status: 200, body: "Temperature logged successfully\n", header: withLength(textOK, 32),
			wantTopic:   "devices/" + nodeID + "/sensors/temperature",
			wantPayload: `{"value":21.5,"time":"2025-03-18T10:00:00.123456Z"}`,
		},
		{
			name:   "temperature without timestamp gets the time of receipt",
			raw:    pythonPost("/v1/log-temperature", anyKey, nodeID, `{"temperature": -3}`),
			status: 200, body: "Temperature logged successfully\n", header: withLength(textOK, 32),
			wantTopic:   "devices/" + nodeID + "/sensors/temperature",
			wantPayload: `{"value":-3.0,"time":"NOW"}`,
		},
		{
			name:   "humidity with status, offset converted to UTC",
			raw:    pythonPost("/v1/log-humidity", anyKey, nodeID, `{"humidity": 40.25, "timestamp": "2025-03-18T12:00:00+02:00", "status": "ok \"dry\""}`),
			status: 200, body: "Humidity logged successfully\n", header: withLength(textOK, 29),
			wantTopic:   "devices/" + nodeID + "/sensors/humidity",
			wantPayload: `{"value":40.25,"time":"2025-03-18T10:00:00Z","status":"ok \"dry\""}`,
		},
		{
			name:   "unknown fields ignored and names matched regardless of case, as encoding/json did",
			raw:    pythonPost("/v1/log-pressure", pumpKey, pumpName, `{"Pressure": 1013.2, "firmware": "1.2", "TimeStamp": null}`),
			status: 200, body: "Pressure logged successfully\n", header: withLength(textOK, 29),
			wantTopic:   "devices/pump-7/sensors/pressure",
			wantPayload: `{"value":1013.2,"time":"NOW"}`,
		},
		{
			name:   "body that does not decode",
			raw:    pythonPost("/v1/log-temperature", anyKey, nodeID, `{"temperature": 21.5`),
			status: 400, body: "Bad request\n", header: withLength(textErr, 12),
		},
		{
			name:   "other method",
			raw:    "GET /v1/log-temperature HTTP/1.1\r\nHost: HOST\r\nUser-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n",
			status: 405, body: "Invalid request method\n", header: withLength(textErr, 23),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recordingSink{}
			h := newHarness(t, testConfig(), sink)
			before := time.Now()
			got := replay(t, h, tc.raw)
			after := time.Now()
			if got.status != tc.status || got.body != tc.body {
				t.Fatalf("got %d %q, want %d %q", got.status, got.body, tc.status, tc.body)
			}
			wantHeaders(t, got.header, tc.header)
			msgs := sink.messages()
			if tc.wantTopic == "" {
				if len(msgs) != 0 {
					t.Fatalf("sink got %v, want nothing", msgs)
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("sink got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.received.Before(before) || m.received.After(after) {
				t.Errorf("received %v is not within the request (%v .. %v)", m.received, before, after)
			}
			want := strings.Replace(tc.wantPayload, "NOW", m.received.UTC().Format(time.RFC3339Nano), 1)
			if m.topic != tc.wantTopic || m.payload != want {
				t.Errorf("sink got %s %s, want %s %s", m.topic, m.payload, tc.wantTopic, want)
			}
		})
	}
}

func withLength(h map[string]string, n int) map[string]string {
	out := map[string]string{"Content-Length": fmt.Sprint(n)}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// curlStream is how seed 001's devices upload a buffered file:
// curl -u user:password --data-binary @readings.json.
func curlStream(user, pass, body string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return "POST /ingest HTTP/1.1\r\nHost: HOST\r\nAuthorization: Basic " + auth + "\r\n" +
		"User-Agent: curl/8.14.1\r\nAccept: */*\r\nContent-Type: application/stream+json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

func TestIngestReplay(t *testing.T) {
	seed := lines(
		`{"sensor": "speed", "value": 55.5, "timestamp": "2012-04-23T18:25:43.511Z"}`,
		`{"sensor": "speed", "value": 60.2, "timestamp": "2012-04-23T18:26:43.511Z"}`,
		`{"sensor": "speed", "value": 61.9, "timestamp": "2012-04-23T18:27:43.511Z"}`,
	)
	wantPayloads := []string{
		`{"value":55.5,"time":"2012-04-23T18:25:43.511Z"}`,
		`{"value":60.2,"time":"2012-04-23T18:26:43.511Z"}`,
		`{"value":61.9,"time":"2012-04-23T18:27:43.511Z"}`,
	}
	jsonHeader := map[string]string{"Content-Type": "application/json", "X-Content-Type-Options": "nosniff", "Content-Length": "15"}
	cases := []struct {
		name, user, pass, device string
	}{
		{"key as password, device as user", "lada-1", anyKey, "lada-1"},
		{"key as user name, as seed 001's clients send it, device from the key", pumpKey, "", pumpName},
		{"key as password for a one-device key, user name matching", pumpName, pumpKey, pumpName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recordingSink{}
			h := newHarness(t, testConfig(), sink)
			got := replay(t, h, curlStream(tc.user, tc.pass, seed))
			if got.status != 200 || got.body != "{\"accepted\":3}\n" {
				t.Fatalf("got %d %q, want 200 {\"accepted\":3}", got.status, got.body)
			}
			wantHeaders(t, got.header, jsonHeader)
			msgs := sink.messages()
			if len(msgs) != len(wantPayloads) {
				t.Fatalf("sink got %d messages, want %d", len(msgs), len(wantPayloads))
			}
			for i, m := range msgs {
				if m.topic != "devices/"+tc.device+"/sensors/speed" || m.payload != wantPayloads[i] {
					t.Errorf("message %d: %s %s, want devices/%s/sensors/speed %s", i, m.topic, m.payload, tc.device, wantPayloads[i])
				}
			}
			if n := h.counter(t, "mqflux_http_readings_total", map[string]string{"endpoint": "/ingest"}); n != 3 {
				t.Errorf("mqflux_http_readings_total{endpoint=/ingest} = %v, want 3", n)
			}
		})
	}
}
