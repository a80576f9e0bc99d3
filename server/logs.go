package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mqflux/mqflux/flow/logs"
	"github.com/mqflux/mqflux/flow/output"
)

// getLogs answers GET /v1/logs: the log lines devices published
// (mapping.logs_template), newest first, ?limit= at a time (100, at most
// 1,000), filtered by ?from= and ?to= (RFC 3339; the last 24 hours by
// default), ?device=, ?unit=, ?level= (exact) and ?message= (a literal
// substring); ?cursor= is a previous answer's next.
func (s *Server) getLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lq := logs.Query{Device: q.Get("device"), Unit: q.Get("unit"), Level: q.Get("level"), Contains: q.Get("message"), Cursor: q.Get("cursor")}
	for name, dst := range map[string]*time.Time{"from": &lq.From, "to": &lq.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, name+": want an RFC 3339 time (2026-12-01T08:00:00Z)")
				return
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit: want a count from 1 to "+strconv.Itoa(logs.MaxLimit))
			return
		}
		lq.Limit = n
	}
	p := s.cfg.Primary()
	querier, ok := p.Config.(output.Querier)
	if !ok {
		writeError(w, http.StatusNotImplemented, "the first output ("+p.Name+", kind "+p.Kind+") does not answer log queries")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), historyTimeout)
	defer cancel()
	page, err := logs.Reader{Endpoint: querier.QueryEndpoint()}.Read(ctx, lq)
	switch {
	case errors.Is(err, logs.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		s.log.Warn("logs query failed", "device", lq.Device, "err", err)
		writeError(w, http.StatusBadGateway, err.Error())
	default:
		writeJSON(w, http.StatusOK, page)
	}
}
