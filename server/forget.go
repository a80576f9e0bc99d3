package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/mqflux/mqflux/alert"
	influxapi "github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/flow/output"
)

// forgetTimeout bounds the deletion of a device's data in the first
// output.
const forgetTimeout = 2 * time.Minute

// forgetAnswer is what DELETE /v1/devices/{device} answers.
type forgetAnswer struct {
	alert.Forgotten
	// LatestSeries is how many series /v1/latest let go.
	LatestSeries int `json:"latest_series"`
	// DataDeleted is true when ?data=true deleted the device's series in
	// the first output.
	DataDeleted bool   `json:"data_deleted"`
	Output      string `json:"output,omitempty"`
}

// deleteDevice answers DELETE /v1/devices/{device}[?data=true]: the device
// leaves the registry, its alerts (each firing one resolved once, reason
// "forgotten") and /v1/latest; with data=true its series are deleted from
// the first output too. Its guard (roleAdmin, routes.go) lets only an
// admin in beyond loopback. A reading of the device afterwards brings it
// back as a new device.
func (s *Server) deleteDevice(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("device")
	if err := influxapi.CheckName(name); err != nil {
		writeError(w, http.StatusBadRequest, "device: "+err.Error())
		return
	}
	data := false
	if v := r.URL.Query().Get("data"); v != "" {
		var err error
		if data, err = strconv.ParseBool(v); err != nil {
			writeError(w, http.StatusBadRequest, "data: want true or false")
			return
		}
	}
	by := s.gate.who(r)
	ans := forgetAnswer{LatestSeries: s.latest.Forget(name)}
	ans.Forgotten = s.alerts.Forget(name, by)
	if data {
		p := s.cfg.Primary()
		ans.Output = p.Name
		deleter, ok := p.Config.(output.DeviceDeleter)
		if !ok {
			s.log.Warn("device forgotten; its data not deleted: the first output cannot", "device", name, "user", by, "output", p.Name)
			writeError(w, http.StatusNotImplemented, "device forgotten, but the first output ("+p.Name+", kind "+p.Kind+") cannot delete a device's data")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), forgetTimeout)
		defer cancel()
		if err := deleter.DeleteDevice(ctx, name); err != nil {
			s.log.Error("device forgotten; deleting its data failed", "device", name, "user", by, "output", p.Name, "err", err)
			writeError(w, http.StatusBadGateway, "device forgotten, but deleting its data failed: "+err.Error())
			return
		}
		ans.DataDeleted = true
	}
	if !ans.Known && ans.LatestSeries == 0 && !data {
		writeError(w, http.StatusNotFound, "no device "+strconv.Quote(name)+" is known")
		return
	}
	s.log.Info("device forgotten", "device", name, "user", by, "remote", r.RemoteAddr, "known", ans.Known,
		"resolved", ans.Resolved, "latest_series", ans.LatestSeries, "data_deleted", ans.DataDeleted)
	writeJSON(w, http.StatusOK, ans)
}
