package mapping

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/ingest"
)

// The logs template takes a JSON array of lines, a point each, as the
// device agent batches them; elements without a time get the receive time
// plus their index in nanoseconds. A bad element refuses the message and
// is named; arrays stay refused on reading topics.
func TestLogBatch(t *testing.T) {
	m := mustNew(t, DefaultConfig())
	rcv := receivedAt().UnixNano()
	ns := func(d int64) string { return strconv.FormatInt(rcv+d, 10) }
	tests := []struct {
		name, topic, payload string
		want                 string // line protocol; "" when refused
		reason, detail       string
	}{
		{"batch", "devices/pi-1/logs",
			`[{"message": "a", "pid": 7, "tags": {"unit": "ssh.service", "level": "err"}, "time": "2026-12-06T12:00:00.000000001Z"},
			  {"message": "b"}, {"message": "c"}]`,
			"logs,device=pi-1,level=err,unit=ssh.service message=\"a\",pid=7 1796558400000000001\n" +
				"logs,device=pi-1 message=\"b\" " + ns(1) + "\n" +
				"logs,device=pi-1 message=\"c\" " + ns(2) + "\n", "", ""},
		{"single object still", "devices/pi-1/logs", `{"message": "one"}`, "logs,device=pi-1 message=\"one\" " + ns(0) + "\n", "", ""},
		{"bad element", "devices/pi-1/logs", `[{"message": "a"}, {"message": "b", "tags": {"device": "other"}}]`, "", "", "element 1 (byte 19)"},
		{"not an object", "devices/pi-1/logs", `[{"message": "a"}, 5]`, "", "bad_json", "element 1 at byte 19: a log line is a JSON object"},
		{"empty", "devices/pi-1/logs", `[]`, "", "empty", "no log line"},
		{"cut short", "devices/pi-1/logs", `[{"message": "a"}`, "", "bad_json", ""},
		{"trailing data", "devices/pi-1/logs", `[{"message": "a"}] x`, "", "bad_json", "after the array"},
		{"array on a reading topic", "devices/pi-1/sensors/t", `[{"value": 1}]`, "", "bad_json", "not a reading"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := m.Append(nil, tt.topic, []byte(tt.payload), receivedAt())
			if tt.want != "" {
				if err != nil || string(out) != tt.want {
					t.Fatalf("got %q, %v\nwant %q", out, err, tt.want)
				}
				return
			}
			var rej *ingest.RejectError
			if !errors.As(err, &rej) || (tt.reason != "" && rej.Reason != tt.reason) || !strings.Contains(rej.Detail, tt.detail) {
				t.Fatalf("got %q, %v; want refused %s %q", out, err, tt.reason, tt.detail)
			}
		})
	}
}
