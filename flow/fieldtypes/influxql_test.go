package fieldtypes

import (
	"context"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/flow/point"
	"github.com/mqflux/mqflux/internal/testenv"
)

// TestLoadFromInfluxDB: the types a real InfluxDB 1.8 holds are learnt,
// with and without authentication, and a missing database is nothing to
// learn rather than an error.
func TestLoadFromInfluxDB(t *testing.T) {
	cases := []struct {
		name string
		opts []testenv.InfluxOption
	}{
		{"open", nil},
		{"with auth", []testenv.InfluxOption{testenv.WithAuth("admin", "s3cret pw")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testenv.StartInflux(t, append(tc.opts, testenv.WithoutFlux())...)
			in.WriteLines(t, strings.Join([]string{
				`temperature,device=a value=21.5,note="x",ok=true,n=3i 1700000000000000000`,
				`humidity,device=b value="wet" 1700000000000000000`,
			}, "\n"))
			s := New(0)
			n, err := InfluxQL{Endpoint: influx.Endpoint{URL: in.URL, Bucket: in.Bucket(), Token: in.Token()}}.Load(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			want := map[[2]string]point.Kind{
				{"temperature", "value"}: point.Float, {"temperature", "note"}: point.String,
				{"temperature", "ok"}: point.Bool, {"temperature", "n"}: point.Int,
				{"humidity", "value"}: point.String,
			}
			if n != len(want) || s.Len() != len(want) {
				t.Fatalf("learnt %d, store holds %d, want %d", n, s.Len(), len(want))
			}
			for mf, k := range want {
				if got, ok := s.Kind(mf[0], mf[1]); !ok || got != k {
					t.Errorf("%s.%s: %v (%v), want %s", mf[0], mf[1], KindName(got), ok, KindName(k))
				}
			}

			n, err = InfluxQL{Endpoint: influx.Endpoint{URL: in.URL, Bucket: "nothing/autogen", Token: in.Token()}}.Load(context.Background(), New(0))
			if err != nil || n != 0 {
				t.Errorf("missing database: %d, %v; want 0, nil", n, err)
			}
		})
	}
}

func TestLoadRefusedCredentials(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithAuth("admin", "pw"), testenv.WithoutFlux())
	s := New(0)
	if _, err := (InfluxQL{Endpoint: influx.Endpoint{URL: in.URL, Bucket: in.Bucket(), Token: "admin:wrong"}}).Load(context.Background(), s); err == nil {
		t.Fatal("wrong password: no error")
	}
}
