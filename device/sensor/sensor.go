// Package sensor reads the device's sensors: BME280, BMP280 and AHT20 over
// I2C through periph.io, DS18B20 through the Linux 1-wire sysfs, the CPU
// temperature, disk usage, and a simulated sensor for machines without
// hardware.
package sensor

import (
	"context"
	"time"
)

// Reading is one value of one measurement, timestamped when it was read.
type Reading struct {
	Measurement string
	Value       float64
	Time        time.Time
}

// Sensor is one configured source of readings. Read returns every
// measurement the sensor has (a BME280 gives temperature, humidity and
// pressure) or an error that says which sensor failed and how.
type Sensor interface {
	Name() string
	Read(ctx context.Context) ([]Reading, error)
}

// Units of the published values.
const (
	Temperature = "temperature" // °C
	Humidity    = "humidity"    // % relative humidity
	Pressure    = "pressure"    // hPa
)
