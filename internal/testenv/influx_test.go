package testenv

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestInfluxLifecycle(t *testing.T) {
	tests := []struct {
		name string
		opts []InfluxOption
	}{
		{"plain", nil},
		{"auth without flux", []InfluxOption{WithAuth("admin", "s3cret"), WithoutFlux()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := StartInflux(t, tc.opts...)
			in.WriteLines(t, "env,device=pi1 temp=21.5,n=3i 1700000000123456789\n")
			got := in.Query(t, `SELECT temp, n FROM env`)
			if len(got) != 1 || len(got[0].Values) != 1 {
				t.Fatalf("series = %+v, want one row", got)
			}
			row := got[0].Rows()[0]
			if row["time"] != json.Number("1700000000123456789") || row["temp"] != json.Number("21.5") || row["n"] != json.Number("3") {
				t.Fatalf("row = %v", row)
			}

			if tc.name == "plain" {
				csv := in.Flux(t, `from(bucket: "telemetry/autogen") |> range(start: 0) |> filter(fn: (r) => r._field == "temp")`)
				if !strings.Contains(csv, ",21.5,") {
					t.Fatalf("flux answer lacks the stored value 21.5:\n%s", csv)
				}
			}

			// The data must survive a restart on the same port and dirs.
			in.Stop(t)
			in.Start(t)
			if n := in.Count(t, "env", "temp"); n != 1 {
				t.Fatalf("after restart count = %d, want 1", n)
			}
			if n := in.Count(t, "absent", "temp"); n != 0 {
				t.Fatalf("count of an absent measurement = %d, want 0", n)
			}
			if in.Bucket() != "telemetry/autogen" {
				t.Fatalf("bucket = %q", in.Bucket())
			}
		})
	}
}

func TestInfluxAuthRefusesStrangers(t *testing.T) {
	in := StartInflux(t, WithAuth("admin", "right"), WithoutFlux())
	stranger := *in
	stranger.Password = "wrong"
	if _, err := stranger.TryQuery(t.Context(), "SHOW DATABASES"); err == nil {
		t.Fatal("query with a wrong password succeeded")
	}
	if in.Token() != "admin:right" {
		t.Fatalf("token = %q", in.Token())
	}
}

func TestInfluxdPathFromEnv(t *testing.T) {
	bin := InfluxdPath(t) // skips (or fails in CI) when there is none
	t.Setenv("MQFLUX_INFLUXD", bin)
	if got := InfluxdPath(t); got != bin {
		t.Fatalf("InfluxdPath = %q, want %q", got, bin)
	}
}
