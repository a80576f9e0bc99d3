package sensor

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

// The register values below are those of a BME280 and a BMP280 recorded by
// the periph.io authors (bmxx80/bmx280_test.go in periph.io/x/devices/v3
// v3.7.4); the expected values follow from the datasheet's compensation
// formulas applied to them.
var bmxCalibration = []byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x0, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0xb, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0xa, 0xd8, 0xbd, 0x10, 0x0, 0x4b}

func bmxOps(chipID byte) []i2ctest.IO {
	ops := []i2ctest.IO{
		{Addr: 0x76, W: []byte{0xd0}, R: []byte{chipID}},
		{Addr: 0x76, W: []byte{0x88}, R: bmxCalibration},
	}
	measurement := []byte{0x4a, 0x52, 0xc0, 0x80, 0x96, 0xc0}
	if chipID == 0x60 { // BME280: humidity calibration, ctrl_hum, humidity raw value
		ops = append(ops,
			i2ctest.IO{Addr: 0x76, W: []byte{0xe1}, R: []byte{0x6e, 0x1, 0x0, 0x13, 0x5, 0x0, 0x1e}},
			i2ctest.IO{Addr: 0x76, W: []byte{0xf4, 0x6c, 0xf2, 0x3, 0xf5, 0xa0, 0xf4, 0x6c}})
		measurement = append(measurement, 0x7a, 0x76)
	} else {
		ops = append(ops, i2ctest.IO{Addr: 0x76, W: []byte{0xf4, 0x6c, 0xf5, 0xa0, 0xf4, 0x6c}})
	}
	return append(ops,
		i2ctest.IO{Addr: 0x76, W: []byte{0xf4, 0x6d}},           // forced mode
		i2ctest.IO{Addr: 0x76, W: []byte{0xf3}, R: []byte{8}},   // measuring
		i2ctest.IO{Addr: 0x76, W: []byte{0xf3}, R: []byte{0}},   // done
		i2ctest.IO{Addr: 0x76, W: []byte{0xf7}, R: measurement}, // raw values
	)
}

func playback(ops []i2ctest.IO) (*i2ctest.Playback, BusOpener) {
	bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
	return bus, func() (i2c.Bus, error) { return bus, nil }
}

func TestI2CSensorsReadKnownValues(t *testing.T) {
	// The AHT20 fixture: status "calibrated", trigger, then 7 bytes whose
	// 20-bit fields are humidity 0x75520 and temperature 0x58E40 and
	// whose last byte is the CRC-8 (poly 0x31, init 0xff) of the first six.
	aht := []i2ctest.IO{
		{Addr: 0x38, W: []byte{0x71}, R: []byte{0x18}},
		{Addr: 0x38, W: []byte{0xac, 0x33, 0x00}},
		{Addr: 0x38, R: []byte{0x18, 0x75, 0x52, 0x05, 0x8e, 0x40, 0x7f}},
	}
	cases := []struct {
		name string
		ops  []i2ctest.IO
		make func(BusOpener) Sensor
		want map[string]float64
	}{
		{"bme280", bmxOps(0x60), func(o BusOpener) Sensor { return NewBMxx80("bme280", o, 0x76, "") },
			map[string]float64{"temperature": 23.72, "pressure": 1009.426953125, "humidity": 65.3056}},
		{"bmp280", bmxOps(0x58), func(o BusOpener) Sensor { return NewBMxx80("bmp280", o, 0x76, "") },
			map[string]float64{"temperature": 23.72, "pressure": 1009.426953125}},
		{"bmp280 read as bmp280 with prefix", bmxOps(0x58), func(o BusOpener) Sensor { return NewBMxx80("bmp280", o, 0x76, "attic_") },
			map[string]float64{"attic_temperature": 23.72, "attic_pressure": 1009.426953125}},
		{"aht20", aht, func(o BusOpener) Sensor { return NewAHT20(o, "") },
			// (0x58E40/2^20)·200−50 and 0x75520/2^20·100
			map[string]float64{"temperature": 19.445800781, "humidity": 45.82824}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bus, open := playback(tc.ops)
			got, err := tc.make(open).Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			checkReadings(t, got, tc.want)
			if err := bus.Close(); err != nil {
				t.Fatalf("not every fixture I/O was used: %v", err)
			}
		})
	}
}

func checkReadings(t *testing.T, got []Reading, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d readings %v, want %v", len(got), got, want)
	}
	for _, r := range got {
		w, ok := want[r.Measurement]
		if !ok {
			t.Fatalf("unexpected measurement %q", r.Measurement)
		}
		if math.Abs(r.Value-w) > 1e-6 {
			t.Errorf("%s = %.9f, want %.9f", r.Measurement, r.Value, w)
		}
		if r.Time.IsZero() {
			t.Errorf("%s has no timestamp", r.Measurement)
		}
	}
}

func TestI2CSensorErrors(t *testing.T) {
	cases := []struct {
		name string
		ops  []i2ctest.IO
		make func(BusOpener) Sensor
		want string
	}{
		{"aht20 CRC mismatch",
			[]i2ctest.IO{
				{Addr: 0x38, W: []byte{0x71}, R: []byte{0x18}},
				{Addr: 0x38, W: []byte{0xac, 0x33, 0x00}},
				{Addr: 0x38, R: []byte{0x18, 0x75, 0x52, 0x05, 0x8e, 0x40, 0x7e}},
			},
			func(o BusOpener) Sensor { return NewAHT20(o, "") },
			"aht20@0x38: read: Data is corrupt. The CRC8 hashes did not match. Calculated: 0x7F, Received: 0x7E"},
		{"bme280 configured, bmp280 wired", bmxOps(0x58),
			func(o BusOpener) Sensor { return NewBMxx80("bme280", o, 0x76, "") },
			"bme280@0x76: the chip is a BMP280, which has no humidity sensor; set kind: bmp280"},
		{"unknown chip id",
			[]i2ctest.IO{{Addr: 0x76, W: []byte{0xd0}, R: []byte{0x42}}},
			func(o BusOpener) Sensor { return NewBMxx80("bme280", o, 0x76, "") },
			"bme280@0x76: init: bmxx80: unexpected chip id 42 (is a BME280/BMP280 at this address?"},
		{"nothing at the address", nil,
			func(o BusOpener) Sensor { return NewBMxx80("bme280", o, 0x77, "") },
			"bme280@0x77: init: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, open := playback(tc.ops)
			_, err := tc.make(open).Read(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMissingBusSaysWhatToCheck(t *testing.T) {
	open := func() (i2c.Bus, error) { return nil, errors.New("no such bus") }
	_, err := NewBMxx80("bme280", open, 0x76, "").Read(context.Background())
	if err == nil {
		t.Fatal("read with no bus succeeded")
	}
	// On this machine there is no I2C bus at all: the real opener must say
	// which bus and what to check.
	_, err = NewBMxx80("bme280", NewBuses().Opener("1", "bme280", 0x76), 0x76, "").Read(context.Background())
	for _, want := range []string{`open I2C bus "1": no I2C bus on this machine`, "bme280 at 0x76", "is I2C enabled?", "raspi-config", "SDA/SCL", "i2cdetect -y 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want it to mention %q", err, want)
		}
	}
}

func TestSensorRecoversAfterFailure(t *testing.T) {
	// The first attempt finds no chip; the second finds it (plugged in).
	ops := append([]i2ctest.IO{{Addr: 0x76, W: []byte{0xd0}, R: []byte{0x00}}}, bmxOps(0x60)...)
	_, open := playback(ops)
	s := NewBMxx80("bme280", open, 0x76, "")
	if _, err := s.Read(context.Background()); err == nil {
		t.Fatal("first read succeeded without a chip")
	}
	got, err := s.Read(context.Background())
	if err != nil {
		t.Fatalf("second read: %v", err)
	}
	checkReadings(t, got, map[string]float64{"temperature": 23.72, "pressure": 1009.426953125, "humidity": 65.3056})
}
