package pipeline

import (
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/influxwriter"
	"github.com/mqflux/mqflux/flow/latest"
	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/spool"
)

// openBench opens a pipeline whose writers never start: the benchmarks
// measure what happens before a PUBACK (decode, map, spool append, the
// hand-off to the observers), the path every reading takes on the broker's
// goroutine. The observers are those `mqflux serve` attaches, /v1/latest
// and /v1/stream (without stream clients), running on their goroutines as
// they do there: allocs/op counts every goroutine, theirs included.
func openBench(b *testing.B, durability spool.Durability) *Pipeline {
	b.Helper()
	w, err := influxwriter.New(influxwriter.DefaultConfig("http://127.0.0.1:1", "telemetry/autogen"), nil)
	if err != nil {
		b.Fatal(err)
	}
	store := latest.New(10000)
	p, err := Open(Options{
		Observers: store.Observers(),
		DataDir:   b.TempDir(),
		Mapping:   mapping.DefaultConfig(),
		Spool:     spool.Options{MaxBytes: 1 << 40, Durability: durability},
		Outputs:   []OutputSpec{{Output: w, Required: true}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Stop(0) })
	return p
}

func benchIngest(b *testing.B, durability spool.Durability, topic, payload string) {
	p := openBench(b, durability)
	sink := p.Sink("mqtt")
	pl := []byte(payload)
	rx := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(pl)))
	b.ReportAllocs()
	for b.Loop() {
		if err := sink.Ingest(topic, pl, rx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIngestNumber(b *testing.B) {
	benchIngest(b, spool.Write, "devices/pi-1/sensors/temperature", "21.5")
}

func BenchmarkIngestJSON(b *testing.B) {
	benchIngest(b, spool.Write, "devices/pi-1/sensors/temperature", `{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`)
}

func BenchmarkIngestJSONMulti(b *testing.B) {
	benchIngest(b, spool.Write, "devices/pi-1/sensors/env",
		`{"temperature": 21.5, "humidity": 40.1, "pressure": 1013.25, "door": false, "note": "ok", "time": 1795456800}`)
}

// BenchmarkIngestJSONParallel: many connections ingesting at once, as the
// broker does with one goroutine per client; they share the spool's lock.
func BenchmarkIngestJSONParallel(b *testing.B) {
	p := openBench(b, spool.Write)
	sink := p.Sink("mqtt")
	pl := []byte(`{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`)
	rx := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(pl)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := sink.Ingest("devices/pi-1/sensors/temperature", pl, rx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkIngestRejected: a reading that can never be stored costs a
// dead-letter line (written and fsynced) instead of a spool append.
func BenchmarkIngestRejected(b *testing.B) {
	p := openBench(b, spool.Write)
	sink := p.Sink("mqtt")
	pl := []byte(`{"value": NaN}`)
	rx := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if err := sink.Ingest("devices/pi-1/sensors/temperature", pl, rx); err == nil {
			b.Fatal("NaN was accepted")
		}
	}
}

// BenchmarkIngestJSONBatch32: the same reading as IngestJSON through
// Sink.Batch, 32 to a batch (one network read's worth with 32 in flight):
// one spool write per 32 readings. ns/op and allocs/op are per reading.
func BenchmarkIngestJSONBatch32(b *testing.B) {
	p := openBench(b, spool.Write)
	sink := p.Sink("mqtt")
	pl := []byte(`{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`)
	rx := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(pl)))
	b.ReportAllocs()
	batch := sink.Batch()
	for b.Loop() {
		if err := batch.Add("devices/pi-1/sensors/temperature", pl, rx); err != nil {
			b.Fatal(err)
		}
		if batch.Len() == 32 {
			if err := batch.Commit(); err != nil {
				b.Fatal(err)
			}
			batch = sink.Batch()
		}
	}
	if err := batch.Commit(); err != nil {
		b.Fatal(err)
	}
}
