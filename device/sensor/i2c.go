package sensor

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/host/v3"
)

// BusOpener returns the I2C bus a sensor talks over. Sensors call it on
// their first read and again after a failure, so a bus that appears late
// (a module loaded after boot) is picked up without a restart.
type BusOpener func() (i2c.Bus, error)

// Buses opens each named I2C bus once and shares it between the sensors on
// it. host.Init runs only when the first bus is opened, so a device without
// I2C sensors never touches periph's host drivers.
type Buses struct {
	mu     sync.Mutex
	inited bool
	open   map[string]i2c.BusCloser
}

// NewBuses returns an empty set of buses.
func NewBuses() *Buses { return &Buses{open: map[string]i2c.BusCloser{}} }

// Opener returns a BusOpener for bus name, used by sensor kind at addr; its
// errors say what to check on a Raspberry Pi.
func (b *Buses) Opener(name, kind string, addr uint16) BusOpener {
	return func() (i2c.Bus, error) {
		bus, err := b.get(name)
		if err != nil {
			return nil, fmt.Errorf("%s at %#02x: open I2C bus %q: %w; is I2C enabled? "+
				"(raspi-config → Interface Options → I2C, or dtparam=i2c_arm=on in config.txt); "+
				"is the sensor wired to SDA/SCL and powered? is the user in the i2c group? "+
				"check with: i2cdetect -y %s", kind, addr, name, err, name)
		}
		return bus, nil
	}
}

func (b *Buses) get(name string) (i2c.Bus, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bus, ok := b.open[name]; ok {
		return bus, nil
	}
	if !b.inited {
		if _, err := host.Init(); err != nil {
			return nil, fmt.Errorf("periph host init: %w", err)
		}
		b.inited = true
	}
	bus, err := i2creg.Open(name)
	if err != nil {
		// i2creg's own message suggests a missing Init, which is not the
		// cause here: say which buses exist instead.
		var names []string
		for _, ref := range i2creg.All() {
			names = append(names, ref.Name)
		}
		if len(names) == 0 {
			return nil, errors.New("no I2C bus on this machine (no /dev/i2c-* device)")
		}
		return nil, fmt.Errorf("no such bus; buses here: %s", strings.Join(names, ", "))
	}
	b.open[name] = bus
	return bus, nil
}

// Close closes every bus opened.
func (b *Buses) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var first error
	for name, bus := range b.open {
		if err := bus.Close(); err != nil && first == nil {
			first = fmt.Errorf("close I2C bus %q: %w", name, err)
		}
		delete(b.open, name)
	}
	return first
}
