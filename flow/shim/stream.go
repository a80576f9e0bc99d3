package shim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// streamEndpoint serves POST /ingest: newline-delimited JSON readings, as
// devices upload them after hours offline. The body is read one line at a
// time through a buffer of max_line_bytes, so a stream of any length runs in
// constant memory, and each line is in the spool before the next is read.
type streamEndpoint struct {
	shim *Shim
}

// streamAnswer is the JSON body of every /ingest answer. Lines before Line
// were accepted and stay accepted: a client resumes from Line.
type streamAnswer struct {
	Error    string `json:"error,omitempty"`
	Line     int    `json:"line,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Accepted int    `json:"accepted"`
}

func (e *streamEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	dev, p := e.authenticate(r)
	if p != nil {
		e.refuse(w, r, p, 0, 0)
		return
	}
	b, p := openBody(w, r, e.shim.maxStream)
	if p != nil {
		e.refuse(w, r, p, 0, 0)
		return
	}
	accepted, line, p := e.consume(dev, b)
	if p != nil {
		e.refuse(w, r, p, line, accepted)
		return
	}
	writeJSON(w, http.StatusOK, streamAnswer{Accepted: accepted})
}

// authenticate finds the key in basic auth. The key is the password and the
// user name is the device; seed 001's own clients put the key in the user
// name and left the password empty, so an empty password makes the user name
// the key (the device then comes from the key or the X-node-id header).
func (e *streamEndpoint) authenticate(r *http.Request) (string, *problem) {
	user, pass, ok := r.BasicAuth()
	if !ok || (user == "" && pass == "") {
		return "", &problem{status: http.StatusUnauthorized, reason: "key_missing",
			detail: "basic auth with the API key as the password (and the device id as the user name) is required"}
	}
	secret, claimed, where := pass, user, "the basic-auth user name"
	if pass == "" {
		secret, claimed, where = user, r.Header.Get("X-node-id"), "the X-node-id header (the basic-auth user name holds the key)"
	}
	key, ok, p := e.shim.keys.lookup(r.Context(), r.RemoteAddr, secret)
	if p != nil {
		return "", p
	}
	if !ok {
		return "", &problem{status: http.StatusUnauthorized, reason: "key_wrong",
			detail: "the basic-auth API key is not one of the configured keys"}
	}
	return device(key, claimed, where)
}

// consume hands every line of the stream to the sink. It returns how many
// readings were accepted and, on a refusal, the 1-based line it stopped at.
func (e *streamEndpoint) consume(dev string, b *body) (accepted, line int, p *problem) {
	br := bufio.NewReaderSize(b, e.shim.maxLine+1)
	for {
		raw, err := br.ReadSlice('\n')
		if len(raw) == 0 && err == io.EOF {
			return accepted, 0, nil
		}
		line++
		if errors.Is(err, bufio.ErrBufferFull) {
			return accepted, line, &problem{status: http.StatusRequestEntityTooLarge, reason: "line_too_long",
				detail: fmt.Sprintf("line %d is longer than the limit of %d bytes", line, e.shim.maxLine)}
		}
		if err != nil && err != io.EOF {
			return accepted, line, b.readProblem(err)
		}
		if p := e.one(dev, raw, line); p != nil {
			return accepted, line, p
		}
		if !isBlank(raw) {
			accepted++
		}
		if err == io.EOF {
			return accepted, 0, nil
		}
	}
}

// one decodes and stores one line; a blank line is skipped.
func (e *streamEndpoint) one(dev string, raw []byte, line int) *problem {
	if isBlank(raw) {
		return nil
	}
	rd, err := decodeLine(raw)
	if err != nil {
		return &problem{status: http.StatusBadRequest, reason: "bad_line", detail: fmt.Sprintf("line %d: %v", line, err)}
	}
	received := time.Now()
	if err := e.shim.sink.IngestReading(rd.forDevice(dev), received); err != nil {
		p := fromSink(err)
		p.detail = fmt.Sprintf("line %d: %s", line, p.detail)
		return p
	}
	e.shim.readings.WithLabelValues(ingestPath).Inc()
	return nil
}

func isBlank(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

func (e *streamEndpoint) refuse(w http.ResponseWriter, r *http.Request, p *problem, line, accepted int) {
	e.shim.record(r, ingestPath, p, "line", line, "accepted", accepted)
	p.setRetryAfter(w.Header())
	if p.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="mqflux", charset="UTF-8"`)
	}
	writeJSON(w, p.status, streamAnswer{Error: p.detail, Line: line, Reason: p.reason, Accepted: accepted})
}

func (e *streamEndpoint) wrongMethod(w http.ResponseWriter, r *http.Request) {
	p := &problem{status: http.StatusMethodNotAllowed, reason: "method", detail: r.Method + " is not allowed: use POST"}
	w.Header().Set("Allow", http.MethodPost)
	e.refuse(w, r, p, 0, 0)
}

func writeJSON(w http.ResponseWriter, status int, v streamAnswer) {
	body, _ := json.Marshal(v) // four plain fields always marshal
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
