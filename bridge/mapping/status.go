package mapping

import (
	"time"

	"github.com/mqflux/mqflux/bridge/ingest"
)

// appendStatus writes a presence message (online on connect, offline as the
// Last Will) as device_status,device=... online=<bool>,state="<payload>".
func (m *Mapper) appendStatus(sc *scratch, dst []byte, topic string, payload []byte, received time.Time) ([]byte, *ingest.RejectError) {
	for i := range sc.caps {
		if rej := checkLevel(topic, sc.caps[i].level, sc.caps[i].key, sc.caps[i].value); rej != nil {
			return nil, rej
		}
	}
	var online bool
	switch state := trimSpace(payload); string(state) {
	case "online":
		online = true
	case "offline":
	case "":
		return nil, reject("bad_status", "status payload on %q is empty (a cleared retained message?); want online or offline", topic)
	default:
		return nil, reject("bad_status", "status payload on %q is %s; want online or offline", topic, quote(state))
	}
	ts, ok := nanos(received)
	if !ok {
		return nil, reject("bad_time", "receive time %s is outside %s", received.UTC().Format(time.RFC3339Nano), timeRange)
	}
	state := "offline"
	if online {
		state = "online"
	}
	sc.tags = append(sc.tags, sc.caps...)
	sortTags(sc.tags)
	sc.fields = append(sc.fields,
		field{key: "online", kind: kindBool, b: online},
		field{key: "state", kind: kindString, s: state})
	return sc.emit(dst, StatusMeasurement, sc.tags, sc.fields, ts), nil
}
