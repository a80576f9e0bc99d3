package sensor

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// SimParams shape a simulated sensor: reading n has the value
// Base + Step·n + Amplitude·sin(2πn/Period) + Noise·N(0,1), rounded to
// 3 decimals, where the noise comes from a generator seeded with Seed. The
// same parameters give the same values in the same order on every machine.
type SimParams struct {
	Measurement string
	Seed        uint64
	Base        float64
	Step        float64
	Amplitude   float64
	Period      float64 // readings per cycle
	Noise       float64
}

// Sim is a sensor for machines without hardware, and for tests that need
// to know every value that was read.
type Sim struct {
	p   SimParams
	mu  sync.Mutex
	n   int
	rng *rand.Rand
}

// NewSim returns a simulated sensor starting at reading 0.
func NewSim(p SimParams) *Sim {
	return &Sim{p: p, rng: rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))}
}

// Name implements Sensor.
func (s *Sim) Name() string { return fmt.Sprintf("sim:%s", s.p.Measurement) }

// Read implements Sensor.
func (s *Sim) Read(ctx context.Context) ([]Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := float64(s.n)
	s.n++
	v := s.p.Base + s.p.Step*n
	if s.p.Amplitude != 0 && s.p.Period != 0 {
		v += s.p.Amplitude * math.Sin(2*math.Pi*n/s.p.Period)
	}
	if s.p.Noise != 0 {
		v += s.p.Noise * s.rng.NormFloat64()
	}
	return []Reading{{Measurement: s.p.Measurement, Value: roundTo(v, 3), Time: time.Now()}}, nil
}

func roundTo(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}
