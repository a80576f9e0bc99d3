package server

import (
	"bytes"
	"net/http"
	"time"

	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/flow/deadletter"
)

// recentDeadLetters is how many dead letters /v1/pipeline lists.
const recentDeadLetters = 20

// pipelineView is what GET /v1/pipeline answers: the counters since start
// (a client turns two answers into rates), the spool, each output and the
// newest dead letters.
type pipelineView struct {
	Time         time.Time          `json:"time"`
	Received     float64            `json:"received"` // readings received, all inputs
	Written      float64            `json:"written"`  // readings stored in InfluxDB
	Rejected     map[string]float64 `json:"rejected"` // by reason
	Spool        spoolView          `json:"spool"`
	MQTT         *mqttView          `json:"mqtt,omitempty"` // the embedded broker; mqflux serve only
	Influx       influxView         `json:"influx"`         // the first output, as before outputs existed
	Outputs      []outputView       `json:"outputs"`        // in configuration order
	DeadLetters  []deadLetterView   `json:"dead_letters"`   // newest first
	DeadLetterOK bool               `json:"dead_letters_readable"`
}

type spoolView struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// OldestAgeSeconds is how long the oldest pending reading has waited
	// in the spool; 0 when it is empty.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// mqttView is the embedded broker's numbers (broker.Stats): counters since
// start and gauges now.
type mqttView struct {
	ClientsConnected int64            `json:"clients_connected"`
	Subscriptions    int64            `json:"subscriptions"`
	MessagesReceived int64            `json:"messages_received"`
	MessagesSent     int64            `json:"messages_sent"`
	Dropped          map[string]int64 `json:"dropped"` // by reason
	Inflight         int64            `json:"inflight"`
	Retained         int64            `json:"retained"`
	RetainedBytes    int64            `json:"retained_bytes"`
	PublishRefused   map[string]int64 `json:"publish_refused"` // by reason
}

func newMQTTView(st broker.Stats) *mqttView {
	return &mqttView{ClientsConnected: st.ClientsConnected, Subscriptions: st.Subscriptions,
		MessagesReceived: st.MessagesReceived, MessagesSent: st.MessagesSent, Dropped: st.Dropped,
		Inflight: st.Inflight, Retained: st.Retained, RetainedBytes: st.RetainedBytes, PublishRefused: st.PublishRefused}
}

type influxView struct {
	URL     string             `json:"url"`
	Bucket  string             `json:"bucket"`
	Up      bool               `json:"up"`
	Retries map[string]float64 `json:"retries"` // failed attempts, by reason
	// LastError is InfluxDB's newest failure (reason: answer), kept after
	// it recovers; LastErrorAt when it happened.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
}

type deadLetterView struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	Device  string    `json:"device,omitempty"`
	Topic   string    `json:"topic,omitempty"`
	Reason  string    `json:"reason"`
	Detail  string    `json:"detail,omitempty"`
	Payload string    `json:"payload"`
}

func (s *Server) getPipeline(w http.ResponseWriter, _ *http.Request) {
	ph, st := s.pipe.Health(), s.pipe.Stats()
	v := pipelineView{Time: time.Now().UTC(), Received: float64(sumOf(st.Received)), Written: float64(st.Written),
		Rejected: floats(st.Rejected),
		Spool:    spoolView{Records: ph.SpoolRecords, Bytes: ph.SpoolBytes, OldestAgeSeconds: ageSeconds(ph.SpoolOldest)},
		Influx:   influxView{Retries: map[string]float64{}},
		Outputs:  outputViews(s.cfg.OutputList(), ph, st),
		MQTT:     newMQTTView(s.broker.Stats())}
	if len(v.Outputs) > 0 {
		first := v.Outputs[0]
		v.Influx.URL, v.Influx.Bucket = first.Target, first.Details["bucket"]
		v.Influx.Up, v.Influx.LastError, v.Influx.LastErrorAt = first.Up, first.LastError, first.LastErrorAt
		v.Influx.Retries = first.Retries
	}
	var err error
	v.DeadLetters, err = newestDeadLetters(s.pipe.DeadLetterPath(), recentDeadLetters)
	v.DeadLetterOK = err == nil
	if err != nil {
		s.log.Warn("pipeline view: read dead letters", "err", err)
	}
	writeJSON(w, http.StatusOK, v)
}

func sumOf(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// floats is m as the JSON numbers of the view.
func floats(m map[string]int64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v)
	}
	return out
}

// newestDeadLetters reads the newest entries of the dead-letter file (on
// into the rotated one), newest first; no file yet is no entries.
func newestDeadLetters(path string, n int) ([]deadLetterView, error) {
	page, err := deadletter.Tail(path, n, "")
	out := make([]deadLetterView, 0, len(page.Entries))
	for _, e := range page.Entries {
		out = append(out, deadLetterView{Time: e.Time, Source: e.Source, Device: e.Device, Topic: e.Topic,
			Reason: e.Reason, Detail: e.Detail, Payload: string(bytes.ToValidUTF8(e.Payload, []byte("\uFFFD")))})
	}
	return out, err
}

// ageSeconds is how long ago t was, in seconds; 0 for the zero time.
func ageSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return max(time.Since(t).Seconds(), 0)
}
