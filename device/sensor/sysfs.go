package sensor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPUTemp reads the SoC temperature the kernel reports in millidegrees
// Celsius, /sys/class/thermal/thermal_zone0/temp on a Pi.
type CPUTemp struct {
	path        string
	measurement string
}

// DefaultCPUTempPath is thermal zone 0, the SoC on every Raspberry Pi.
const DefaultCPUTempPath = "/sys/class/thermal/thermal_zone0/temp"

// NewCPUTemp reads path and publishes it as measurement.
func NewCPUTemp(path, measurement string) *CPUTemp {
	return &CPUTemp{path: path, measurement: measurement}
}

// Name implements Sensor.
func (s *CPUTemp) Name() string { return "cpu_temp" }

// Read implements Sensor.
func (s *CPUTemp) Read(ctx context.Context) ([]Reading, error) {
	milli, err := readMilli(s.path)
	if err != nil {
		return nil, fmt.Errorf("cpu_temp: %w", err)
	}
	return []Reading{{Measurement: s.measurement, Value: float64(milli) / 1000, Time: time.Now()}}, nil
}

// readMilli reads a file holding one integer, as sysfs temperature files do.
func readMilli(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %w", err)
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer (millidegrees Celsius), got %q", path, clip(s))
	}
	return v, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// DS18B20 is a Maxim DS18B20 1-wire thermometer read through the kernel's
// w1-gpio and w1-therm drivers, which expose each sensor as a directory
// 28-<serial> under /sys/bus/w1/devices.
type DS18B20 struct {
	root        string
	id          string
	measurement string
}

// DefaultW1Dir is where the kernel lists 1-wire devices.
const DefaultW1Dir = "/sys/bus/w1/devices"

// NewDS18B20 reads sensor id (28-...) under root; with an empty id, the
// only 28-* device found there.
func NewDS18B20(root, id, measurement string) *DS18B20 {
	return &DS18B20{root: root, id: id, measurement: measurement}
}

// Name implements Sensor.
func (s *DS18B20) Name() string {
	if s.id == "" {
		return "ds18b20"
	}
	return "ds18b20@" + s.id
}

// Read implements Sensor.
func (s *DS18B20) Read(ctx context.Context) ([]Reading, error) {
	dir, err := s.find()
	if err != nil {
		return nil, err
	}
	milli, err := readW1(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name(), err)
	}
	// 85 °C is the power-on value of the scratchpad: the conversion did
	// not run (usually a weak supply in parasite mode), not a real reading.
	if milli == 85000 {
		return nil, fmt.Errorf("%s: read 85.000 °C, the power-on reset value: the conversion did not run; check the supply and the 4.7kΩ pull-up", s.Name())
	}
	return []Reading{{Measurement: s.measurement, Value: float64(milli) / 1000, Time: time.Now()}}, nil
}

func (s *DS18B20) find() (string, error) {
	if s.id != "" {
		dir := filepath.Join(s.root, s.id)
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("%s: not found under %s: is it wired and the w1-gpio overlay enabled? (%w)", s.Name(), s.root, err)
		}
		return dir, nil
	}
	found, err := filepath.Glob(filepath.Join(s.root, "28-*"))
	if err != nil {
		return "", fmt.Errorf("ds18b20: %w", err)
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("ds18b20: no 28-* device under %s: is the w1-gpio overlay enabled (dtoverlay=w1-gpio in config.txt) and the sensor wired to GPIO4 with a 4.7kΩ pull-up to 3.3V?", s.root)
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, f := range found {
		ids[i] = filepath.Base(f)
	}
	return "", fmt.Errorf("ds18b20: %d sensors under %s (%s): set id to choose one; add one sensor entry per id", len(found), s.root, strings.Join(ids, ", "))
}

// readW1 prefers the "temperature" file of newer kernels (millidegrees)
// and falls back to w1_slave, whose first line ends in the CRC verdict
// (YES or NO) and whose second line ends in t=<millidegrees>.
func readW1(dir string) (int64, error) {
	if v, err := readMilli(filepath.Join(dir, "temperature")); err == nil {
		return v, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	path := filepath.Join(dir, "w1_slave")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		return 0, fmt.Errorf("%s: want 2 lines, got %d: %q", path, len(lines), clip(string(b)))
	}
	if !strings.HasSuffix(strings.TrimSpace(lines[0]), "YES") {
		return 0, fmt.Errorf("%s: CRC check failed (%q): noise on the 1-wire line; check the wiring and the pull-up", path, clip(lines[0]))
	}
	_, t, ok := strings.Cut(lines[1], "t=")
	if !ok {
		return 0, fmt.Errorf("%s: no t= on line 2: %q", path, clip(lines[1]))
	}
	v, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: t=%q is not an integer", path, clip(t))
	}
	return v, nil
}
