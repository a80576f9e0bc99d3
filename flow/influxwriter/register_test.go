package influxwriter

import (
	"io"
	"log/slog"
	"testing"

	"github.com/mqflux/mqflux/flow/output"
)

// The package registers kind influxdb; its Config is the Options, fed,
// described (without the token) and queried from the same keys.
func TestRegisteredKind(t *testing.T) {
	k, ok := output.Lookup(Kind)
	if !ok {
		t.Fatalf("kind %s not registered", Kind)
	}
	c := k.DefaultConfig()
	o, ok := c.(*Options)
	if !ok || *o != DefaultOptions() {
		t.Fatalf("DefaultConfig = %#v, want *Options holding DefaultOptions", c)
	}
	o.URL, o.Token, o.API, o.BatchSize = "http://db:8086", "secret", "v1", 10
	if d := output.Describe(c); d.Target != "http://db:8086" || d.Details["api"] != "v1" || d.Details["bucket"] != DefaultBucket {
		t.Errorf("Describe = %+v", d)
	}
	for _, v := range output.Describe(c).Details {
		if v == "secret" {
			t.Error("Describe shows the token")
		}
	}
	if f := output.FeedOf(c); f.BatchSize != 10 || f.DrainTimeout != DefaultDrainTimeout {
		t.Errorf("Feed = %+v", f)
	}
	if e := c.(output.Querier).QueryEndpoint(); e.URL != o.URL || e.Token != "secret" || e.Timeout != DefaultTimeout {
		t.Errorf("QueryEndpoint = %+v", e)
	}
	w, err := k.New("db", c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.(*Writer); !ok {
		t.Errorf("New built %T, want *Writer", w)
	}
	if cl, ok := w.(io.Closer); ok {
		_ = cl.Close()
	}
}
