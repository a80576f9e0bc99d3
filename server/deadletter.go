package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/pipeline"
	"github.com/mqflux/mqflux/internal/httpjson"
)

// getDeadLetters answers GET /v1/deadletter: the dead letters counted by
// reason and device, and the newest ?n= (default 10) before the cursor
// ?before= (a previous answer's next). Both read the file in bounded
// pieces, so a request costs no more memory for a full file.
func (s *Server) getDeadLetters(w http.ResponseWriter, r *http.Request) {
	n := 10
	if v := r.URL.Query().Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "n must be a count")
			return
		}
	}
	sum, err := deadletter.Summarize(s.pipe.DeadLetterPath(), n, r.URL.Query().Get("before"))
	if errors.Is(err, deadletter.ErrCursorExpired) {
		writeError(w, http.StatusGone, err.Error())
		return
	}
	if errors.Is(err, deadletter.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "before: "+err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// postReplay answers POST /v1/deadletter/replay?reason=&device=&dry_run=:
// the running server re-drives its dead letters, since it alone may write
// its spool and dead-letter file while it runs.
func (s *Server) postReplay(w http.ResponseWriter, r *http.Request) {
	// The route's guard (roleAdmin, routes.go) has let only an admin in
	// beyond loopback: a replay changes what is stored.
	q := r.URL.Query()
	dry, _ := strconv.ParseBool(q.Get("dry_run"))
	res, err := s.pipe.Replay(pipeline.ReplayFilter{Reason: q.Get("reason"), Device: q.Get("device"), DryRun: dry})
	if err != nil {
		s.log.Error("dead-letter replay", "err", err)
		writeJSON(w, http.StatusInternalServerError, struct {
			httpjson.Body
			Result pipeline.ReplayResult `json:"result"`
		}{httpjson.Body{Error: err.Error()}, res})
		return
	}
	s.log.Info("dead letters replayed", "reason", q.Get("reason"), "device", q.Get("device"), "dry_run", dry,
		"selected", res.Selected, "stored", res.Stored, "ignored", res.Ignored, "still_failing", res.StillFailing)
	writeJSON(w, http.StatusOK, res)
}
