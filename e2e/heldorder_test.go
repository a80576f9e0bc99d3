package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A reader comes back to its queue while the device it follows keeps
// publishing: it gets every queued reading, then the live ones, all in
// the order the device sent them (every topic is ordered, [MQTT-4.6.0-6]).
// An MQTT 3.1.1 reader is sent its whole queue again at once: live
// readings were written beside it, among its last messages
// (third_party/mochi-mqtt-server/PATCHES.md, "Deliveries made while a
// returning session's queue is resent go behind it"). An MQTT 5 reader
// with a Receive Maximum (`mosquitto_sub -V mqttv5 -D connect
// receive-maximum 4`) is sent its queue past that one per PUBACK; a live
// reading that took the unit a PUBACK had just given back went out ahead
// of every held one ("A live publish waits behind the messages held for
// the send quota").
func TestReturningReaderGetsReadingsInOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version []string
	}{
		{"mqtt3.1.1", nil},
		{"mqtt5 receive maximum 4", []string{"-V", "mqttv5", "-D", "connect", "receive-maximum", "4", "-x", "3600"}},
	} {
		t.Run(tc.name, func(t *testing.T) { returningReaderInOrder(t, tc.version) })
	}
}

func returningReaderInOrder(t *testing.T, version []string) {
	const queued, live = 300, 1000
	const topic = "devices/demo-device/sensors/seq"
	// A window and a write queue that hold every reading of the test: it
	// is about order, not about what a reader slower than the device (a
	// loaded machine) loses.
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: roomyReader})
	reader := append([]string{"-c", "-i", "ordered", "-q", "1"}, version...)
	first := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, topic, append(reader, "-E")...)
	if err, stderr := first.Wait(30 * time.Second); err != nil {
		t.Fatalf("creating the persistent session: %v %s", err, stderr)
	}
	publishSequence(t, srv.MQTT, topic, 0, queued) // the reader is away: queued

	// Live readings start with the reader's return: some are published
	// while the broker moves the session to the new connection, which
	// lost them once ("A session taken over keeps the deliveries made
	// during the takeover").
	back := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, topic, reader...)
	publishSequence(t, srv.MQTT, topic, queued, queued+live) // while the queue goes out
	last := fmt.Sprintf(`{"seq": %d}`, queued+live-1)
	var lines []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if lines = back.Lines(); len(lines) > 0 && strings.HasSuffix(lines[len(lines)-1], last) {
			break
		}
	}
	for i, l := range lines {
		_, payload, _ := strings.Cut(l, " ")
		var r struct{ Seq int }
		if err := json.Unmarshal([]byte(payload), &r); err != nil {
			t.Fatalf("message %d: %q: %v", i, l, err)
		}
		if r.Seq != i {
			t.Fatalf("message %d is reading %d, want %d: the readings in the order the device sent them (%d queued, then %d live)",
				i, r.Seq, i, queued, live)
		}
	}
	if len(lines) != queued+live {
		t.Fatalf("received %d readings, want %d", len(lines), queued+live)
	}
}

// roomyReader is the environment of a server whose subscribers may fall
// 4,096 messages behind before anything is dropped for them.
var roomyReader = []string{"MQFLUX_BROKER_MAX_INFLIGHT=4096", "MQFLUX_BROKER_INITIAL_INFLIGHT=4096", "MQFLUX_BROKER_MAX_QUEUED=4096"}

// publishSequence publishes {"seq": from} to {"seq": to-1} at QoS 1 on
// topic as the demo device, in that order, with one mosquitto_pub -l.
func publishSequence(t *testing.T, addr, topic string, from, to int) {
	t.Helper()
	pubFrom(t, addr, testenv.DemoDevice, topic, &steadySequence{next: from, to: to})
}

// steadySequence reads as the lines {"seq": next} to {"seq": to-1}, five
// lines a millisecond: a steady device, a few thousand readings a second,
// which a reader with a Receive Maximum keeps up with, so that nothing is
// dropped for it.
type steadySequence struct{ next, to int }

func (s *steadySequence) Read(p []byte) (int, error) {
	if s.next >= s.to {
		return 0, io.EOF
	}
	time.Sleep(time.Millisecond)
	var b []byte
	for n := 0; n < 5 && s.next < s.to; n++ {
		b = fmt.Appendf(b, "{\"seq\": %d}\n", s.next)
		s.next++
	}
	if len(b) > len(p) {
		return 0, io.ErrShortBuffer
	}
	return copy(p, b), nil
}
