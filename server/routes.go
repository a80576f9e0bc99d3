package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/mqflux/mqflux/broker"
)

// routes lists every HTTP route of `mqflux serve`, behind the Host and
// cross-origin checks (hostGuard).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	legacy := http.NewServeMux()
	// The legacy API's health check: any method, this exact body.
	legacy.HandleFunc("/healthcheck", legacyHealthcheck)
	legacy.HandleFunc("/v1/healthcheck", legacyHealthcheck)
	// Health stays open beyond loopback: load balancers probe it without
	// credentials, and it tells nothing of the readings.
	mux.HandleFunc("GET /healthz", s.healthz)
	// What shows readings or the server's insides needs a reader or admin
	// login beyond loopback (readGate.guard, roleReader); a route that
	// changes what is stored names roleAdmin (guardAs). Either login
	// works: HTTP basic auth or the console's session cookie.
	mux.Handle("GET /metrics", s.gate.guard("/metrics", s.front.metrics()))
	// The newest reading of every device and measurement, and the readings
	// live as Server-Sent Events; both take ?device= and ?measurement=.
	mux.Handle("GET /v1/latest", s.gate.guard("/v1/latest", http.HandlerFunc(s.getLatest)))
	mux.Handle("GET /v1/stream", s.gate.guard("/v1/stream", http.HandlerFunc(s.getStream)))
	// Every device with its state, last seen and latest readings
	// (?device=pattern, ?state=, ?rule=), and the alerts firing now with
	// the recent transitions; behind the same login as /v1/latest.
	s.alerts.Routes(mux, s.gate.guard)
	// Forgetting a device (and with ?data=true deleting its series in the
	// first output) changes what is stored: an admin.
	mux.Handle("DELETE /v1/devices/{device}", s.gate.guardAs(roleAdmin, "/v1/devices/{device}", http.HandlerFunc(s.deleteDevice)))
	// The dead letters by reason and device, behind the same login, and
	// their replay through the current mapping (`mqflux deadletter`, or
	// the console of a logged-in admin): it changes what is stored, so it
	// takes an admin.
	mux.Handle("GET /v1/deadletter", s.gate.guard("/v1/deadletter", http.HandlerFunc(s.getDeadLetters)))
	mux.Handle("POST /v1/deadletter/replay", s.gate.guardAs(roleAdmin, "/v1/deadletter/replay", http.HandlerFunc(s.postReplay)))
	// One field's history from InfluxDB, for the console's charts, and the
	// pipeline's state for its pipeline view.
	mux.Handle("GET /v1/history", s.gate.guard("/v1/history", http.HandlerFunc(s.getHistory)))
	mux.Handle("GET /v1/pipeline", s.gate.guard("/v1/pipeline", http.HandlerFunc(s.getPipeline)))
	// The last 15 minutes of the pipeline, a sample a second, for the
	// pipeline view's charts.
	mux.Handle("GET /v1/pipeline/history", s.gate.guard("/v1/pipeline/history", http.HandlerFunc(s.getPipelineHistory)))
	// The log lines devices publish (mapping.logs_template), newest first,
	// a page at a time, for the console's journal.
	mux.Handle("GET /v1/logs", s.gate.guard("/v1/logs", http.HandlerFunc(s.getLogs)))
	// The description of every route here, open like /healthz: it holds
	// no data.
	mux.HandleFunc("GET /v1/openapi.json", getOpenAPI)
	// The web console: its page behind the login beyond loopback, its
	// static files open (they hold no data), the login form, and the
	// session the console asks for its logout's CSRF token.
	s.gate.consoleRoutes(mux)
	// The legacy POST API (flow/shim): POST /v1/log-{parameter} for each
	// of http.legacy.parameters, and POST /ingest (NDJSON streams); other
	// methods on those paths get the original 405 answers. Loggers in the
	// field reach it (and its health check) by whatever name they were set
	// up with, and it always takes a key, which a rebound page does not
	// have: the Host check leaves it out, the cross-origin check does not.
	s.inputs.routes(legacy)
	isLegacy := func(r *http.Request) bool { _, pattern := legacy.Handler(r); return pattern != "" }
	guard := newHostGuard(s.cfg.HTTP, s.log.With("component", "http"), s.front.reg, isLegacy)
	return guard.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLegacy(r) {
			legacy.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

func legacyHealthcheck(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
	fmt.Fprintln(w, "Server is healthy")
}

type health struct {
	Status string `json:"status"` // ok | degraded | failing
	Uptime string `json:"uptime"`
	MQTT   mqttH  `json:"mqtt"`
	// Influx is the first output, as before outputs existed.
	Influx  *influx   `json:"influx,omitempty"`
	Outputs []outputH `json:"outputs"`
	Spool   *spoolH   `json:"spool,omitempty"`
	// HTTP is the HTTP connection bound: refusing when it is full.
	HTTP      *HTTPHealth `json:"http,omitempty"`
	Readiness string      `json:"readiness"`
	// Faults name the writes to data_dir that fail now, e.g.
	// "spool: no space left on device" (see storageFaults).
	Faults []string `json:"faults,omitempty"`
}

type mqttH struct {
	ClientsConnected int64                   `json:"clients_connected"`
	Listeners        []broker.ListenerHealth `json:"listeners"`
}

type influx struct {
	URL    string `json:"url"`
	Bucket string `json:"bucket"`
	Up     bool   `json:"up"`
}

type spoolH struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
}

// healthz reports readiness as JSON: 200 while readings are accepted
// (an output being down only degrades: the spool holds the readings, and
// an optional output falls behind), 503 when not:
// an MQTT listener that fails to accept keeps every new device out.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	parts := s.life.health()
	h := health{
		Status:    "ok",
		Readiness: "accepting readings",
		Uptime:    parts.uptime,
		MQTT:      mqttH{ClientsConnected: s.broker.Stats().ClientsConnected, Listeners: s.broker.Listeners()},
		Influx:    &parts.primary,
		Outputs:   parts.outputs,
		Spool:     &parts.spool,
	}
	ph := parts.pipeline
	if parts.outputsDown != "" {
		h.Status = "degraded"
		h.Readiness = "accepting readings; " + parts.outputsDown
	}
	if faults := s.storageFaults(ph.SpoolFault, ph.DeadLetterFault); len(faults) > 0 {
		h.Status = "degraded"
		h.Faults = faults
		h.Readiness = faultReadiness(ph.SpoolFault, faults)
	}
	if h.HTTP = s.front.connHealth(); h.HTTP != nil && h.HTTP.Refusing {
		h.Status = "degraded"
		h.Readiness += "; HTTP refusing new connections: " + h.HTTP.Reason
	}
	if down := parts.inputsDown; len(down) > 0 {
		// An input that takes no readings now (an inputs entry whose
		// server is away) keeps its senders waiting, not the others.
		h.Status = "degraded"
		h.Readiness += "; input " + strings.Join(down, "; ")
	}
	if down := notAccepting(h.MQTT.Listeners); len(down) > 0 {
		h.Status = "failing"
		h.Readiness = fmt.Sprintf("MQTT listener %s not accepting connections", strings.Join(down, ", "))
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func notAccepting(ls []broker.ListenerHealth) []string {
	var down []string
	for _, l := range ls {
		if !l.Accepting {
			down = append(down, l.ID)
		}
	}
	return down
}
