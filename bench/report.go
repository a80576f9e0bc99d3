package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// Report is the outcome of one run; -json prints it as is.
type Report struct {
	Measurement   string  `json:"measurement"`
	Devices       int     `json:"devices"`
	QoS           int     `json:"qos"`
	Published     int64   `json:"published"`
	Acked         int64   `json:"acked"`  // PUBACKed; 0 at QoS 0
	Failed        int64   `json:"failed"` // published, never acked (QoS 1)
	Resent        int64   `json:"resent"`
	Reconnects    int64   `json:"reconnects"`
	DevicesGaveUp int     `json:"devices_gave_up"`
	PublishSecs   float64 `json:"publish_seconds"` // first to last publish
	PublishRate   float64 `json:"publish_rate"`    // readings per second
	AckSecs       float64 `json:"ack_seconds"`     // first publish to last PUBACK
	AckRate       float64 `json:"ack_rate"`

	Storage   *Storage  `json:"storage,omitempty"`
	Processes []Process `json:"processes,omitempty"`
}

// Storage is what reached InfluxDB (-influx).
type Storage struct {
	Stored        int64   `json:"stored"` // distinct readings
	Points        int64   `json:"points"` // stored points, duplicates included
	Duplicates    int64   `json:"duplicates"`
	Lost          int64   `json:"lost"` // acked (published at QoS 0) but not stored
	Complete      bool    `json:"complete"`
	EndToEndSecs  float64 `json:"end_to_end_seconds"` // first publish to last stored
	StoredRate    float64 `json:"stored_rate"`
	ProbesSent    int     `json:"probes_sent"`
	ProbesSeen    int     `json:"probes_seen"`
	LatencyP50ms  float64 `json:"latency_p50_ms"`
	LatencyP99ms  float64 `json:"latency_p99_ms"`
	LatencyMaxms  float64 `json:"latency_max_ms"`
	StoreWaitSecs float64 `json:"store_wait_seconds"`
}

// Process is one -pid process's (or this tool's own) cost during the run.
type Process struct {
	Name          string  `json:"name"`
	PID           int     `json:"pid"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerMillion float64 `json:"cpu_seconds_per_million"` // per million stored (acked without -influx)
	PeakRSSBytes  int64   `json:"peak_rss_bytes"`          // VmHWM, over the process's life
}

// Err is non-nil when readings failed or were lost, or devices gave up.
func (r *Report) Err() error {
	var lost int64
	if r.Storage != nil {
		lost = r.Storage.Lost
	}
	if r.Failed == 0 && lost == 0 && r.DevicesGaveUp == 0 {
		return nil
	}
	return fmt.Errorf("%d readings failed, %d lost, %d devices gave up", r.Failed, lost, r.DevicesGaveUp)
}

// rate is n per second over d, 0 for an empty interval.
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// perMillion is the CPU seconds one million readings cost.
func perMillion(cpuSeconds float64, readings int64) float64 {
	if readings <= 0 {
		return 0
	}
	return cpuSeconds / float64(readings) * 1e6
}

// lost counts readings that should be stored and are not. Stored may exceed
// expected when readings that were never acked got stored anyway.
func lost(expected, stored int64) int64 { return max(0, expected-stored) }

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *Report) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("measurement   %s (%d devices, QoS %d)\n", r.Measurement, r.Devices, r.QoS)
	p("published     %d in %.2fs: %.0f/s\n", r.Published, r.PublishSecs, r.PublishRate)
	if r.QoS == 1 {
		p("acked         %d in %.2fs: %.0f/s\n", r.Acked, r.AckSecs, r.AckRate)
	}
	p("failed        %d\n", r.Failed)
	p("resent        %d after %d reconnects\n", r.Resent, r.Reconnects)
	if r.DevicesGaveUp > 0 {
		p("gave up       %d devices\n", r.DevicesGaveUp)
	}
	if s := r.Storage; s != nil {
		state := "complete"
		if !s.Complete {
			state = "INCOMPLETE"
		}
		p("stored        %d (%s after waiting %.1fs), %d duplicates, %d lost\n", s.Stored, state, s.StoreWaitSecs, s.Duplicates, s.Lost)
		p("end to end    %.2fs: %.0f stored/s\n", s.EndToEndSecs, s.StoredRate)
		p("latency       p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d of %d probes seen)\n",
			s.LatencyP50ms, s.LatencyP99ms, s.LatencyMaxms, s.ProbesSeen, s.ProbesSent)
	}
	for _, pr := range r.Processes {
		p("cpu %-9s %.2fs (%.2f s per million), peak RSS %.1f MiB, pid %d\n",
			pr.Name, pr.CPUSeconds, pr.CPUPerMillion, float64(pr.PeakRSSBytes)/(1<<20), pr.PID)
	}
	return nil
}
