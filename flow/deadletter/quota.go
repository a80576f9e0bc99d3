package deadletter

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrOverQuota is Add's answer for an entry dropped because its device has
// used its share of the file: it is counted and logged, not written.
var ErrOverQuota = errors.New("dead-letter entry dropped: the device used its share of the file")

// DeviceShare divides max bytes into the default quota of one device: a
// device may write at most 1/DeviceShare of the file before it rotates.
// One device flooding oversized readings then fills a sixteenth of the
// file and no more, instead of rotating away everyone else's entries; it
// takes sixteen such devices to rotate the file once.
const DeviceShare = 16

// maxDevices bounds the devices counted separately per file; beyond it
// further devices share one count, so a sender inventing device names
// cannot grow the table without bound.
const maxDevices = 4096

// otherDevices is the shared count past maxDevices.
const otherDevices = "\x00other"

// WithDeviceQuota lets each device write at most n bytes into the file
// before it rotates (0: max bytes / DeviceShare).
func WithDeviceQuota(n int64) Option { return func(d *File) { d.quota.limit = n } }

// quota counts what each device wrote into the current file. It is reset
// when the file rotates (the device's earlier entries are in <path>.1 and
// no longer compete with new ones) and when the process starts.
type quota struct {
	limit   int64
	used    map[string]int64
	warned  map[string]bool
	dropped *prometheus.CounterVec // {reason}
}

func newQuota(limit int64) quota {
	return quota{
		limit: limit,
		used:  make(map[string]int64),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_dead_letters_dropped_total",
			Help: "Dead-letter entries not written, by reason (quota: the device had used its share of the file).",
		}, []string{"reason"}),
		warned: make(map[string]bool),
	}
}

// key is who an entry counts against; "" when it counts against no one
// (entries without a device, such as those the output refused).
func (q *quota) key(e *Entry) string {
	if e.Device == "" {
		return ""
	}
	k := e.Source + "/" + e.Device
	if _, ok := q.used[k]; !ok && len(q.used) >= maxDevices {
		return otherDevices
	}
	return k
}

// fits reports whether n more bytes fit k's share. A device's first entry
// in a file always fits, however large.
func (q *quota) fits(k string, n int64) bool {
	used := q.used[k]
	return k == "" || used == 0 || used+n <= q.limit
}

// add counts n bytes written for k.
func (q *quota) add(k string, n int64) {
	if k != "" {
		q.used[k] += n
	}
}

// first reports whether k has not been dropped before in this file, and
// marks it: each device's drops are logged once per file.
func (q *quota) first(k string) bool {
	if q.warned[k] {
		return false
	}
	q.warned[k] = true
	return true
}

func (q *quota) reset() {
	clear(q.used)
	clear(q.warned)
}

// Collectors are the file's metrics.
func (d *File) Collectors() []prometheus.Collector {
	return []prometheus.Collector{d.quota.dropped}
}
