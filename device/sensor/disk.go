package sensor

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// Disk reports how full the file system holding path is, in percent, the
// way df counts it: blocks reserved for root count as unavailable. An SD
// card that fills up is the usual way a Pi dies slowly.
type Disk struct {
	path        string
	measurement string
}

// NewDisk watches the file system of path.
func NewDisk(path, measurement string) *Disk { return &Disk{path: path, measurement: measurement} }

// Name implements Sensor.
func (s *Disk) Name() string { return "disk@" + s.path }

// Read implements Sensor.
func (s *Disk) Read(ctx context.Context) ([]Reading, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.path, &st); err != nil {
		return nil, fmt.Errorf("disk: statfs %s: %w", s.path, err)
	}
	used := float64(st.Blocks - st.Bfree)
	total := used + float64(st.Bavail)
	if total == 0 {
		return nil, fmt.Errorf("disk: %s reports a file system of 0 blocks", s.path)
	}
	pct := used / total * 100
	return []Reading{{Measurement: s.measurement, Value: roundTo(pct, 2), Time: time.Now()}}, nil
}
