package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/mqflux/mqflux/flow/history"
	"github.com/mqflux/mqflux/flow/output"
)

// historyTimeout bounds one /v1/history query to InfluxDB.
const historyTimeout = 30 * time.Second

// getHistory answers GET /v1/history?device=&measurement=&field=&range=:
// one field's readings from InfluxDB over 15m to 30d (history.RangeNames),
// raw when they are few, else means, at most history.MaxPoints points,
// with the range's statistics and the field's first and last reading.
func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hq := history.Query{Device: q.Get("device"), Measurement: q.Get("measurement"), Field: q.Get("field"), Range: q.Get("range")}
	if hq.Range == "" {
		hq.Range = "1h"
	}
	ctx, cancel := context.WithTimeout(r.Context(), historyTimeout)
	defer cancel()
	// The primary output holds what the charts show, when it answers
	// InfluxQL.
	p := s.cfg.Primary()
	var rd history.Source
	switch c := p.Config.(type) {
	case output.Querier:
		rd = history.Reader{Endpoint: c.QueryEndpoint()}
	case output.Historian:
		rd = c.HistorySource()
	default:
		writeError(w, http.StatusNotImplemented, "the first output ("+p.Name+", kind "+p.Kind+") does not answer history queries")
		return
	}
	series, err := rd.Read(ctx, hq)
	switch {
	case errors.Is(err, history.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case err != nil:
		s.log.Warn("history query failed", "device", hq.Device, "measurement", hq.Measurement, "err", err)
		writeError(w, http.StatusBadGateway, err.Error())
	default:
		writeJSON(w, http.StatusOK, series)
	}
}
