package shim

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/mqflux/mqflux/flow/ingest"
)

// problem is a refusal: the status to answer, a short stable reason (the
// metric label) and a detail for people naming what is wrong and where.
type problem struct {
	status int
	reason string
	detail string
	// badBody marks the refusals the original answered with a bare
	// "Bad request": /v1/log-* keeps that body byte for byte for them.
	badBody bool
	// logged marks a refusal the sink has already logged and dead-lettered.
	logged bool
	// retryAfter (seconds) is sent as Retry-After when set: a login
	// refused for its address's backoff or as busy passes with time.
	retryAfter int
}

// setRetryAfter sets the Retry-After of a refusal that passes with time: a
// full spool, a login backed off or busy.
func (p *problem) setRetryAfter(h http.Header) {
	switch {
	case p.retryAfter > 0:
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	case p.status == http.StatusServiceUnavailable:
		h.Set("Retry-After", retryAfter)
	}
}

// fromSink turns an error from ingest.Sink into the refusal to answer.
func fromSink(err error) *problem {
	var re *ingest.RejectError
	switch {
	case errors.Is(err, ingest.ErrFull):
		return &problem{status: http.StatusServiceUnavailable, reason: "spool_full",
			detail: "the spool is full: retry later"}
	case errors.As(err, &re):
		return &problem{status: http.StatusBadRequest, reason: re.Reason, detail: re.Detail, badBody: true, logged: true}
	}
	return &problem{status: http.StatusInternalServerError, reason: "spool_error",
		detail: fmt.Sprintf("the spool could not be written: %v", err)}
}

// record counts and logs a refusal, once. A sink rejection has been logged
// by the sink already (without the remote address), so it only gets a debug
// line here.
func (s *Shim) record(r *http.Request, endpoint string, p *problem, attrs ...any) {
	s.rejected.WithLabelValues(endpoint, p.reason).Inc()
	level := slog.LevelWarn
	if p.logged {
		level = slog.LevelDebug
	}
	args := append([]any{"remote", r.RemoteAddr, "endpoint", endpoint, "reason", p.reason, "status", p.status, "detail", p.detail}, attrs...)
	s.log.Log(r.Context(), level, "legacy http request refused", args...)
}

// retryAfter is the Retry-After (seconds) sent with a 503 from a full spool.
const retryAfter = "5"
