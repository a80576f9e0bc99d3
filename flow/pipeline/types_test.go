package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/fieldtypes"
	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/flow/influxwriter"
	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
	"github.com/mqflux/mqflux/internal/testenv"
)

// One device writes a string into the float field other devices write, over
// MQTT and over the HTTP API, once InfluxDB stored the first float: each
// such reading is refused before the spool takes it (field_type_conflict,
// naming the field and both types) and dead-lettered, and every reading of
// the other devices reaches a real InfluxDB. Writing 21 after 21.5 is no
// conflict: JSON numbers are floats.
func TestFieldTypeConflictRefusedBeforeSpool(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	w, err := influxwriter.New(influxwriter.DefaultConfig(in.URL, in.Bucket()), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := openTest(t, dir, w, func(o *Options) {
		o.FieldTypeSource = fieldtypes.InfluxQL{Endpoint: influx.Endpoint{URL: in.URL, Bucket: in.Bucket()}}
	})
	p.Start()
	mqtt, http := p.Sink("mqtt"), p.Sink("http")
	ts := func(i int) int64 { return 1795456800 + int64(i) }
	good := func(i int) string { return fmt.Sprintf(`{"value": %d.5, "time": %d}`, i, ts(i)) }

	var refused []error
	for i := 0; i < 10; i++ {
		dev := []string{"d1", "d2"}[i%2]
		if err := mqtt.Ingest("devices/"+dev+"/sensors/temperature", []byte(good(i)), rx); err != nil {
			t.Fatalf("reading %d of %s: %v", i, dev, err)
		}
		if i == 0 {
			// Learnt from a reading, the type refuses nothing until
			// InfluxDB, having stored it, confirms it.
			testenv.WaitFor(t, time.Minute, "float confirmed by InfluxDB", func() bool {
				k, confirmed, _ := p.FieldTypes().State("temperature", "value")
				return confirmed && k == point.Float
			})
		}
		if i == 3 {
			refused = append(refused, mqtt.Ingest("devices/evil/sensors/temperature", []byte(`{"value": "hot"}`), rx))
			refused = append(refused, http.IngestReading(ingest.Reading{Device: "evil", Measurement: "temperature",
				Fields: []point.Field{point.StringField("value", "hot")}, Time: time.Unix(ts(100), 0)}, rx))
		}
	}
	// A whole number is a float too.
	if err := mqtt.Ingest("devices/d1/sensors/temperature", []byte(fmt.Sprintf(`{"value": 21, "time": %d}`, ts(10))), rx); err != nil {
		t.Fatalf("21 after 21.5: %v", err)
	}
	for i, err := range refused {
		var re *ingest.RejectError
		if !errors.As(err, &re) || re.Reason != "field_type_conflict" ||
			!strings.Contains(re.Detail, `field "value" of measurement "temperature" is float, this reading has string`) {
			t.Errorf("conflicting reading %d: %v, want field_type_conflict naming the field and both types", i, err)
		}
	}
	for _, src := range []string{"mqtt", "http"} {
		if got := float64(p.Stats().RejectedBySource[src]["field_type_conflict"]); got != 1 {
			t.Errorf("rejected{%s,field_type_conflict} = %v, want 1", src, got)
		}
	}
	if got := float64(p.Stats().Spooled["mqtt"]); got != 11 {
		t.Errorf("spooled{mqtt} = %v, want 11", got)
	}
	waitDrained(t, p)
	stop(t, p, time.Minute)

	if n := in.Count(t, "temperature", "value"); n != 11 {
		t.Errorf("InfluxDB holds %d points, want the 11 good readings", n)
	}
	if got := float64(p.Stats().PrimaryRejected); got != 0 {
		t.Errorf("InfluxDB refused %v points, want none: the conflict never reached it", got)
	}
	letters := deadLetters(t, dir)
	if len(letters) != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", len(letters), letters)
	}
	for i, src := range []string{"mqtt", "http"} {
		e := letters[i]
		if e.Source != src || e.Reason != "field_type_conflict" || e.Device != "evil" || !strings.Contains(string(e.Payload), `"hot"`) {
			t.Errorf("dead letter %d: %+v, want %s, field_type_conflict, device evil, the payload", i, e, src)
		}
	}
}

// A reading of several points whose types disagree among themselves is
// refused whole, and teaches nothing.
func TestFieldTypeConflictWithinOneReading(t *testing.T) {
	dir := t.TempDir()
	out := &fakeOutput{}
	p := openTest(t, dir, out, func(o *Options) {
		o.Mapping.Topics = append(o.Mapping.Topics, mappingLineRule())
	})
	p.Start()
	defer stop(t, p, time.Minute)
	err := p.Sink("mqtt").Ingest("lines/d1", []byte("cpu v=1\ncpu v=2i"), rx)
	var re *ingest.RejectError
	if !errors.As(err, &re) || re.Reason != "field_type_conflict" {
		t.Fatalf("Ingest: %v, want field_type_conflict", err)
	}
	if err := p.Sink("mqtt").Ingest("lines/d1", []byte("cpu v=2i"), rx); err != nil {
		t.Fatalf("the refused reading taught a type: %v", err)
	}
	if _, ok := p.FieldTypes().Kind("cpu", "v"); !ok {
		t.Error("an admitted reading taught nothing")
	}
}
