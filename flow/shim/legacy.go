package shim

import (
	"io"
	"net/http"
	"time"
)

// logEndpoint serves POST /v1/log-{param}: one reading per request, answered
// as the original Go API answered its loggers.
type logEndpoint struct {
	shim   *Shim
	param  string
	path   string
	okBody string
}

func (e *logEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	dev, rd, p := e.read(w, r)
	if p == nil {
		p = e.store(dev, rd, received)
	}
	if p != nil {
		e.refuse(w, r, p)
		return
	}
	e.shim.readings.WithLabelValues(e.path).Inc()
	// The original wrote no Content-Type and let net/http sniff this one.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, e.okBody)
}

// read authenticates the request and decodes its reading and device.
func (e *logEndpoint) read(w http.ResponseWriter, r *http.Request) (string, reading, *problem) {
	secret := r.Header.Get("X-authorization")
	if secret == "" {
		return "", reading{}, &problem{status: http.StatusUnauthorized, reason: "key_missing", detail: "the X-authorization header is missing"}
	}
	key, ok, p := e.shim.keys.lookup(r.Context(), r.RemoteAddr, secret)
	if p != nil {
		return "", reading{}, p
	}
	if !ok {
		return "", reading{}, &problem{status: http.StatusUnauthorized, reason: "key_wrong", detail: "the X-authorization key is not one of the configured keys"}
	}
	dev, p := device(key, r.Header.Get("X-node-id"), "the X-node-id header")
	if p != nil {
		return "", reading{}, p
	}
	b, p := openBody(w, r, e.shim.maxBody)
	if p != nil {
		return "", reading{}, p
	}
	data, err := io.ReadAll(b)
	if err != nil {
		return "", reading{}, b.readProblem(err)
	}
	rd, err := decodeLegacy(e.param, data)
	if err != nil {
		return "", reading{}, &problem{status: http.StatusBadRequest, reason: "bad_body", detail: err.Error(), badBody: true}
	}
	return dev, rd, nil
}

func (e *logEndpoint) store(dev string, rd reading, received time.Time) *problem {
	if err := e.shim.sink.IngestReading(rd.forDevice(dev), received); err != nil {
		return fromSink(err)
	}
	return nil
}

// refuse answers with the original's bodies where the original had one:
// "Bad request" for a body it could not take, "Internal server error" when
// it could not store. The detail always travels in the Mqflux-Error header
// and the log.
func (e *logEndpoint) refuse(w http.ResponseWriter, r *http.Request, p *problem) {
	e.shim.record(r, e.path, p)
	w.Header().Set("Mqflux-Error", headerSafe(p.reason+": "+p.detail))
	p.setRetryAfter(w.Header())
	if p.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `X-authorization realm="mqflux"`)
	}
	var msg string
	switch {
	case p.badBody:
		msg = "Bad request"
	case p.status == http.StatusInternalServerError:
		msg = "Internal server error"
	default:
		msg = http.StatusText(p.status) + ": " + p.detail
	}
	http.Error(w, msg, p.status)
}

func (e *logEndpoint) wrongMethod(w http.ResponseWriter, r *http.Request) {
	p := &problem{status: http.StatusMethodNotAllowed, reason: "method", detail: r.Method + " is not allowed: use POST"}
	e.shim.record(r, e.path, p)
	w.Header().Set("Mqflux-Error", headerSafe(p.reason+": "+p.detail))
	w.Header().Set("Allow", http.MethodPost)
	http.Error(w, "Invalid request method", http.StatusMethodNotAllowed)
}

// headerSafe keeps a detail (which may quote client input) a valid header
// value: printable ASCII only.
func headerSafe(s string) string {
	b := []byte(truncate(s, 300))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
