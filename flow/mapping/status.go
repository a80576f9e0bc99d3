package mapping

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/topic"
)

// statusRule is a checked StatusRule.
type statusRule struct {
	tpl             topic.Template
	online, offline []string
	key             string
}

func newStatusRule(sr StatusRule) (statusRule, error) {
	t, err := newStatusTemplate(sr.Template)
	if err != nil {
		return statusRule{}, err
	}
	st := statusRule{tpl: t, online: sr.Online, offline: sr.Offline, key: sr.Key}
	if len(st.online) == 0 {
		st.online = []string{"online"}
	}
	if len(st.offline) == 0 {
		st.offline = []string{"offline"}
	}
	for _, on := range st.online {
		if on == "" || hasWord(st.offline, on) {
			return statusRule{}, fmt.Errorf("online: %q is empty or also an offline word", on)
		}
	}
	return st, nil
}

// statusRules are the status_template (if any) and status_templates.
func statusRules(cfg Config) []StatusRule {
	var out []StatusRule
	if cfg.StatusTemplate != "" {
		out = append(out, StatusRule{Template: cfg.StatusTemplate})
	}
	return append(out, cfg.StatusTemplates...)
}

func hasWord(words []string, w string) bool {
	for _, x := range words {
		if strings.EqualFold(x, w) {
			return true
		}
	}
	return false
}

// word is the presence word of a payload: the payload itself or, for a
// rule with a key and a JSON object, that member as a string.
func (st *statusRule) word(payload []byte) (string, bool) {
	state := trimSpace(payload)
	if st.key == "" || len(state) == 0 || state[0] != '{' {
		return view(state), true
	}
	var obj map[string]any
	if json.Unmarshal(state, &obj) != nil {
		return "", false
	}
	s, ok := obj[st.key].(string)
	return s, ok
}

// appendStatus writes a presence message (online on connect, offline as the
// Last Will) as device_status,device=... online=<bool>,state="online|offline".
func (m *Mapper) appendStatus(sc *scratch, dst []byte, st *statusRule, topic string, payload []byte, received time.Time) ([]byte, *ingest.RejectError) {
	for i := range sc.caps {
		if rej := checkLevel(topic, sc.caps[i].level, sc.caps[i].key, sc.caps[i].value); rej != nil {
			return nil, rej
		}
	}
	w, ok := st.word(payload)
	var online bool
	switch {
	case !ok:
		return nil, reject("bad_status", "status payload on %q is %s; want a JSON object with a string %q", topic, quote(trimSpace(payload)), st.key)
	case w != "" && hasWord(st.online, w):
		online = true
	case w != "" && hasWord(st.offline, w):
	case len(trimSpace(payload)) == 0:
		return nil, reject("bad_status", "status payload on %q is empty (a cleared retained message?); want %s or %s", topic, st.online[0], st.offline[0])
	default:
		return nil, reject("bad_status", "status payload on %q is %s; want %s or %s", topic, quote(trimSpace(payload)), strings.Join(st.online, " or "), strings.Join(st.offline, " or "))
	}
	ts, rej := receivedNanos(received)
	if rej != nil {
		return nil, rej
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
