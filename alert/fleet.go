package alert

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/point"
)

// Fleet is alerting shared by several instances that each take a part
// of one stream of readings: one of them at a time (the holder of a
// lease) runs the Service on the whole stream and saves its state where
// the others read it, and every instance serves the views from it. An
// input kind that can (nats) builds one from a FleetEnv.
type Fleet interface {
	// Start begins trying for the lease and following the saved state;
	// Stop gives the lease up (another instance takes over at once) and
	// stops the Service if this instance ran it.
	Start()
	Stop() error
	// Routes adds GET /v1/devices, /v1/alerts and /v1/latest.
	Routes(mux *http.ServeMux, wrap func(endpoint string, h http.Handler) http.Handler)
	Health() FleetHealth
	Collectors() []prometheus.Collector
}

// FleetEnv is what a Fleet is built with.
type FleetEnv struct {
	// Options build the Service on the instance that gains the lease;
	// the fleet sets Store (and ignores Dir).
	Options Options
	// Map decodes one message of the stream as the pipeline does,
	// adding its points to pts.
	Map func(pts *point.Set, topic string, payload []byte, received time.Time) error
	// Wants reports whether the pipeline takes a topic at all.
	Wants func(topic string) bool
}

// FleetHealth is what /healthz says of the shared alerting.
type FleetHealth struct {
	// Instance is this instance's name in the lease; Holder the instance
	// holding it ("" while none does).
	Instance string `json:"instance"`
	Holder   string `json:"holder"`
	Leading  bool   `json:"leading"`
	// Since is when the holder took the lease (this instance's clock when
	// it holds it; when the holder wrote it otherwise).
	Since time.Time `json:"since,omitzero"`
	// Gained counts the times this instance took the lease; Takeover is
	// how long the lease went unrenewed before the last of them, from the
	// previous holder's last renewal this instance saw (it looks every
	// quarter of the lease, so up to a renewal early) to its taking it.
	Gained   int    `json:"gained"`
	Takeover string `json:"takeover,omitempty"`
	// Devices is how many devices the registry holds, and Pending how
	// many notifications wait to be accepted (one per notifier), as last
	// saved.
	Devices int `json:"devices"`
	Pending int `json:"pending"`
	// StateAge is how old the state this instance serves is.
	StateAge string `json:"state_age,omitempty"`
	Detail   string `json:"detail,omitempty"`
}
