package mapping

import (
	"strings"
	"testing"
	"time"
)

// A reading without a time of its own takes the receive time; one InfluxDB
// cannot store (a clock far off) is refused as bad_time, naming that time,
// whatever the payload's format.
func TestReceiveTimeOutOfRange(t *testing.T) {
	c := testConfig()
	c.Topics = append(c.Topics, TopicRule{Template: "text/{device}/{measurement}", Format: FormatText})
	m := mustNew(t, c)
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct{ name, topic, payload string }{
		{"number", "devices/pi-1/sensors/temp", "21.5"},
		{"text", "text/pi-1/door", "OPEN"},
		{"JSON", "devices/pi-1/sensors/temp", `{"a": 1}`},
		{"line protocol", "devices/pi-1/line", "cpu v=1"},
		{"status", "devices/pi-1/status", "online"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, re := appendChecked(t, m, tt.topic, []byte(tt.payload), far)
			if re == nil {
				t.Fatal("accepted")
			}
			if re.Reason != "bad_time" || !strings.Contains(re.Detail, "receive time 2300-01-01T00:00:00Z is outside 1677") {
				t.Errorf("reject %s: %s, want bad_time naming the receive time", re.Reason, re.Detail)
			}
		})
	}
}
