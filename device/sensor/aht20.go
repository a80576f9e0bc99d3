package sensor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/aht20"
)

// AHT20Address is the AHT20's only I2C address.
const AHT20Address = 0x38

// AHT20 is an Aosong AHT20 temperature and humidity sensor on I2C, read
// with CRC checking on.
type AHT20 struct {
	prefix string
	open   BusOpener

	mu  sync.Mutex
	dev *aht20.Dev
}

// NewAHT20 returns the AHT20 on the bus given by open.
func NewAHT20(open BusOpener, prefix string) *AHT20 { return &AHT20{prefix: prefix, open: open} }

// Name implements Sensor.
func (s *AHT20) Name() string { return fmt.Sprintf("aht20@%#02x", AHT20Address) }

// Read implements Sensor.
func (s *AHT20) Read(ctx context.Context) ([]Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev == nil {
		bus, err := s.open()
		if err != nil {
			return nil, err
		}
		dev, err := aht20.NewI2C(bus, &aht20.DefaultOpts)
		if err != nil {
			return nil, fmt.Errorf("%s: init: %w (i2cdetect should list 38)", s.Name(), err)
		}
		s.dev = dev
	}
	var e physic.Env
	if err := s.dev.Sense(&e); err != nil {
		s.dev = nil // re-initialise (calibrate) next time
		return nil, fmt.Errorf("%s: read: %w", s.Name(), err)
	}
	now := time.Now()
	return []Reading{
		{Measurement: s.prefix + Temperature, Value: e.Temperature.Celsius(), Time: now},
		{Measurement: s.prefix + Humidity, Value: float64(e.Humidity) / float64(physic.PercentRH), Time: now},
	}, nil
}
