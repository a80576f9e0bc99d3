package server

import (
	"bytes"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/mqflux/mqflux/bridge/deadletter"
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
	Influx       influxView         `json:"influx"`       // the first output, as before outputs existed
	Outputs      []outputView       `json:"outputs"`      // in configuration order
	DeadLetters  []deadLetterView   `json:"dead_letters"` // newest first
	DeadLetterOK bool               `json:"dead_letters_readable"`
}

type spoolView struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// OldestAgeSeconds is how long the oldest pending reading has waited
	// in the spool; 0 when it is empty.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
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
	ph := s.pipe.Health()
	v := pipelineView{Time: time.Now().UTC(), Rejected: map[string]float64{},
		Spool:   spoolView{Records: ph.SpoolRecords, Bytes: ph.SpoolBytes, OldestAgeSeconds: ageSeconds(ph.SpoolOldest)},
		Influx:  influxView{Retries: map[string]float64{}},
		Outputs: outputViews(s.cfg.OutputList(), ph)}
	if len(v.Outputs) > 0 {
		first := v.Outputs[0]
		v.Influx.URL, v.Influx.Bucket = first.Target, first.Details["bucket"]
		v.Influx.Up, v.Influx.LastError, v.Influx.LastErrorAt = first.Up, first.LastError, first.LastErrorAt
	}
	fams, err := s.front.reg.Gather()
	if err != nil {
		s.log.Warn("pipeline view: gather metrics", "err", err)
	}
	for _, f := range fams {
		switch f.GetName() {
		case "mqflux_readings_received_total":
			v.Received = sum(f, "", nil)
		case "mqflux_readings_written_total":
			v.Written = sum(f, "", nil)
		case "mqflux_readings_rejected_total":
			sum(f, "reason", v.Rejected)
		}
		perOutput(f, v.Outputs)
	}
	if len(v.Outputs) == 1 && v.Outputs[0].Written == 0 {
		// Without per-output counts, the one output wrote what was written.
		v.Outputs[0].Written = v.Written
	}
	if len(v.Outputs) > 0 {
		v.Influx.Retries = v.Outputs[0].Retries
	}
	v.DeadLetters, err = newestDeadLetters(s.pipe.DeadLetterPath(), recentDeadLetters)
	v.DeadLetterOK = err == nil
	if err != nil {
		s.log.Warn("pipeline view: read dead letters", "err", err)
	}
	writeJSON(w, http.StatusOK, v)
}

// sum adds up a counter family; with a label, also per value of that label
// into by.
func sum(f *dto.MetricFamily, label string, by map[string]float64) float64 {
	total := 0.0
	for _, m := range f.GetMetric() {
		n := m.GetCounter().GetValue()
		total += n
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				by[l.GetValue()] += n
			}
		}
	}
	return total
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
