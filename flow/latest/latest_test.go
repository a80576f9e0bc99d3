package latest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
)

var received = time.Date(2026, 11, 23, 18, 0, 5, 0, time.UTC)

// lineMapper reads records as line protocol, with nanosecond times and
// no tags of its own: what the tests spool is what the store sees.
var lineMapper = sync.OnceValue(func() *mapping.Mapper {
	c := mapping.DefaultConfig()
	c.Topics = []mapping.TopicRule{{Template: "lp", Format: mapping.FormatLine, TimePrecision: "ns"}}
	c.StatusTemplate = ""
	c.LogsTemplate = ""
	m, err := mapping.New(c)
	if err != nil {
		panic(err)
	}
	return m
})

// presence maps a device's status message as the pipeline does (only the
// status template writes device_status) and hands the point to the store.
func presence(t *testing.T, s *Store, device, payload string) {
	t.Helper()
	m, err := mapping.New(mapping.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var set point.Set
	name := "devices/" + device + "/status"
	if _, err := m.AppendPoints(nil, &set, name, []byte(payload), received); err != nil {
		t.Fatalf("status %q on %s: %v", payload, name, err)
	}
	for i := 0; i < set.Len(); i++ {
		for _, o := range s.Observers() {
			o.Observe(&observe.Reading{Point: *set.At(i), Received: received, Source: "mqtt", Topic: name})
		}
	}
}

// spool maps a record of line protocol as the pipeline does and hands each
// point to the store's observers, in order, as the pipeline's hand-off would.
func spool(s *Store, rec string) error {
	var set point.Set
	if _, err := lineMapper().AppendPoints(nil, &set, "lp", []byte(rec), received); err != nil {
		return err
	}
	for i := 0; i < set.Len(); i++ {
		for _, o := range s.Observers() {
			o.Observe(&observe.Reading{Point: *set.At(i), Received: received, Source: "mqtt", Topic: "lp"})
		}
	}
	return nil
}

func TestNewestTimeWins(t *testing.T) {
	s := New(10)
	spool(s, "temperature,device=pi-1 value=21.5 1795456800000000000\n")
	// A replayed offline buffer arrives later with an older reading.
	spool(s, "temperature,device=pi-1 value=19 1795453200000000000\n")
	got := s.Latest(Filter{})
	if len(got) != 1 || got[0].Fields["value"] != 21.5 || got[0].Time.UnixNano() != 1795456800000000000 {
		t.Fatalf("latest after an older reading: %+v", got[0])
	}
	spool(s, "temperature,device=pi-1 value=22.25,ok=true,fw=\"1.2\",n=3i 1795456800000000001\n")
	got = s.Latest(Filter{})
	want := map[string]any{"value": 22.25, "ok": true, "fw": "1.2", "n": int64(3)}
	for k, v := range want {
		if got[0].Fields[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, got[0].Fields[k], v)
		}
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"device":"pi-1","measurement":"temperature","fields":{"fw":"1.2","n":3,"ok":true,"value":22.25},` +
		`"time":"2026-11-23T18:00:00.000000001Z","received":"2026-11-23T18:00:05Z"}`
	if string(b) != wantJSON {
		t.Errorf("JSON\n got %s\nwant %s", b, wantJSON)
	}
}

func TestSortedAndFiltered(t *testing.T) {
	s := New(10)
	spool(s, "humidity,device=b value=40 1000000000\n"+
		"temperature,device=b value=20 1000000000\n"+
		"temperature,device=a,room=attic value=21 1000000000\n")
	presence(t, s, "a", "online")
	var order []string
	for _, r := range s.Latest(Filter{}) {
		order = append(order, r.Device+"/"+r.Measurement)
	}
	if got, want := strings.Join(order, " "), "a/device_status a/temperature b/humidity b/temperature"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
	if got := s.Latest(Filter{Device: "b"}); len(got) != 2 || got[0].Measurement != "humidity" {
		t.Errorf("device=b: %v", got)
	}
	if got := s.Latest(Filter{Measurement: "temperature"}); len(got) != 2 || got[0].Device != "a" {
		t.Errorf("measurement=temperature: %v", got)
	}
	if got := s.Latest(Filter{Device: "a", Measurement: "humidity"}); len(got) != 0 {
		t.Errorf("device=a&measurement=humidity: %v", got)
	}
}

func TestBound(t *testing.T) {
	s := New(2)
	spool(s, "t,device=a value=1 1\nt,device=b value=1 1\nt,device=c value=1 1\n")
	spool(s, "t,device=a value=2 2\n") // a tracked series is still updated
	got := s.Latest(Filter{})
	if len(got) != 2 || got[0].Device != "a" || got[0].Fields["value"] != 2.0 || got[1].Device != "b" {
		t.Errorf("bounded store holds %v", got)
	}
	if n := testutil.ToFloat64(s.untracked.WithLabelValues(limitSeries)); n != 1 {
		t.Errorf("untracked readings counted %v, want 1", n)
	}
}

// One device sending ever new measurement names fills its own share, not
// the store: another device's series are still remembered, and its own
// known series still updated.
func TestBoundPerDevice(t *testing.T) {
	s := New(10, MaxSeriesPerDevice(3))
	var flood strings.Builder
	for i := range 8 {
		fmt.Fprintf(&flood, "m%d,device=noisy value=1 1\n", i)
	}
	spool(s, flood.String())
	spool(s, "t,device=quiet value=1 1\nm0,device=noisy value=2 2\n")
	var got []string
	for _, r := range s.Latest(Filter{}) {
		got = append(got, fmt.Sprintf("%s/%s=%v", r.Device, r.Measurement, r.Fields["value"]))
	}
	if want := "noisy/m0=2 noisy/m1=1 noisy/m2=1 quiet/t=1"; strings.Join(got, " ") != want {
		t.Errorf("store holds %v, want %s", got, want)
	}
	for limit, want := range map[string]float64{limitSeriesPerDevice: 5, limitSeries: 0} {
		if n := testutil.ToFloat64(s.untracked.WithLabelValues(limit)); n != want {
			t.Errorf("untracked{limit=%q} = %v, want %v", limit, n, want)
		}
	}
}

// The store sees only what the mapping accepted: a record it refuses (and
// dead-letters) never reaches /v1/latest, in part or in whole.
func TestRefusedRecordNotSeen(t *testing.T) {
	s := New(10)
	if err := spool(s, "t,device=a value=1 1\nnot line protocol\n"); err == nil {
		t.Fatal("the mapping accepted a record with a line that is not line protocol")
	}
	if got := s.Latest(Filter{}); len(got) != 0 {
		t.Errorf("latest holds %v from a refused record", got)
	}
}

// What the store keeps is its own copy: the reading handed to Observe may
// be reused as soon as Observe returns.
func TestKeepsItsOwnCopy(t *testing.T) {
	s := New(10)
	var set point.Set
	set.Begin("temperature", 5)
	set.Tag("device", "pi-1")
	set.Field(point.StringField("note", "kept"))
	r := &observe.Reading{Point: *set.At(0), Received: received}
	s.Observers()[0].Observe(r)
	set.Reset()
	set.Begin("xxxxxxxxxxx", 6)
	set.Tag("xxxxxx", "xxxx")
	set.Field(point.StringField("xxxx", "xxxx"))
	got := s.Latest(Filter{})
	if len(got) != 1 || got[0].Device != "pi-1" || got[0].Measurement != "temperature" || got[0].Fields["note"] != "kept" {
		t.Errorf("latest %+v after the observed reading's storage was reused", got)
	}
}

// Remembering a newer reading of a known series allocates nothing: the
// observer keeps up with ingest without feeding the garbage collector.
func TestRememberAllocatesNothing(t *testing.T) {
	s := New(10)
	var set point.Set
	set.Begin("temperature", 5)
	set.Tag("device", "pi-1")
	set.Field(point.FloatField("value", 21.5))
	r := &observe.Reading{Point: *set.At(0), Received: received}
	obs := s.Observers()
	obs[0].Observe(r)
	if n := testing.AllocsPerRun(1000, func() {
		r.Time++
		for _, o := range obs {
			o.Observe(r)
		}
	}); n != 0 {
		t.Errorf("%v allocations per reading with no stream client, want 0", n)
	}
}

func TestSubscribers(t *testing.T) {
	s := New(10)
	all := s.Subscribe(Filter{}, 2)
	onlyB := s.Subscribe(Filter{Device: "b"}, 10)
	defer onlyB.Unsubscribe()
	spool(s, "t,device=a value=1 1\nt,device=b value=2 2\nt,device=a value=3 3\n")
	if r := <-onlyB.C(); r.Device != "b" || r.Fields["value"] != 2.0 {
		t.Errorf("filtered subscriber got %+v", r)
	}
	// The slow one kept two and lost one, without blocking.
	if r := <-all.C(); r.Fields["value"] != 1.0 {
		t.Errorf("first reading %+v", r)
	}
	if n := all.Dropped(); n != 1 {
		t.Errorf("dropped %d, want 1", n)
	}
	if n := all.Dropped(); n != 0 {
		t.Errorf("dropped count not reset: %d", n)
	}
	all.Unsubscribe()
	spool(s, "t,device=a value=4 4\n")
	if len(all.C()) != 1 { // the one left from before
		t.Errorf("unsubscribed still receives: %d buffered", len(all.C()))
	}
	s.Close()
	select {
	case <-s.Done():
	default:
		t.Error("Done not closed by Close")
	}
	s.Close() // twice is fine
	late := s.Subscribe(Filter{}, 1)
	spool(s, "t,device=a value=5 5\n")
	if len(late.C()) != 0 {
		t.Error("a subscription after Close receives readings")
	}
}
