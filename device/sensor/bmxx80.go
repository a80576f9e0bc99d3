package sensor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/bmxx80"
)

// BMxx80 is a Bosch BME280 (temperature, humidity, pressure) or BMP280
// (temperature, pressure) on I2C, read in forced mode: the chip sleeps
// between readings, which keeps it from warming itself.
type BMxx80 struct {
	kind   string // "bme280" or "bmp280"
	addr   uint16
	prefix string
	open   BusOpener

	mu  sync.Mutex
	dev *bmxx80.Dev
}

// NewBMxx80 returns a sensor of kind "bme280" or "bmp280" at addr (0x76 or
// 0x77). prefix is put before each measurement name, to tell two sensors
// apart ("outdoor_" gives outdoor_temperature).
func NewBMxx80(kind string, open BusOpener, addr uint16, prefix string) *BMxx80 {
	return &BMxx80{kind: kind, addr: addr, prefix: prefix, open: open}
}

// Name implements Sensor.
func (s *BMxx80) Name() string { return fmt.Sprintf("%s@%#02x", s.kind, s.addr) }

// Read implements Sensor.
func (s *BMxx80) Read(ctx context.Context) ([]Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connect(); err != nil {
		return nil, err
	}
	var e physic.Env
	if err := s.dev.Sense(&e); err != nil {
		s.dev = nil // start again from the chip id next time: it may have been replugged
		return nil, fmt.Errorf("%s: read: %w", s.Name(), err)
	}
	now := time.Now()
	out := []Reading{
		{Measurement: s.prefix + Temperature, Value: e.Temperature.Celsius(), Time: now},
		{Measurement: s.prefix + Pressure, Value: float64(e.Pressure) / float64(100*physic.Pascal), Time: now},
	}
	if s.kind == "bme280" {
		out = append(out, Reading{Measurement: s.prefix + Humidity, Value: float64(e.Humidity) / float64(physic.PercentRH), Time: now})
	}
	return out, nil
}

func (s *BMxx80) connect() error {
	if s.dev != nil {
		return nil
	}
	bus, err := s.open()
	if err != nil {
		return err
	}
	dev, err := bmxx80.NewI2C(bus, s.addr, &bmxx80.DefaultOpts)
	if err != nil {
		return fmt.Errorf("%s: init: %w (is a BME280/BMP280 at this address? it is 0x76 or 0x77; i2cdetect lists what answers)", s.Name(), err)
	}
	chip := strings.ToLower(strings.SplitN(dev.String(), "{", 2)[0])
	if chip != "bme280" && chip != "bmp280" {
		return fmt.Errorf("%s: the chip is a %s, which this sensor kind does not read", s.Name(), chip)
	}
	if s.kind == "bme280" && chip == "bmp280" {
		return fmt.Errorf("%s: the chip is a BMP280, which has no humidity sensor; set kind: bmp280", s.Name())
	}
	s.dev = dev
	return nil
}
