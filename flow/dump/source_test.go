package dump

import (
	"context"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/mqflux/mqflux/flow/influx"
)

type querier struct{}

func (querier) QueryEndpoint() influx.Endpoint { return influx.Endpoint{URL: "http://influx:8086"} }

type ownSource struct{}

func (ownSource) Measurements(context.Context) ([]string, error) { return nil, nil }
func (ownSource) Schema(context.Context, string) (Schema, error) { return Schema{}, nil }
func (ownSource) Rows(context.Context, string, Schema, Day, func([]parquet.Value) error) error {
	return nil
}

type dumper struct{}

func (dumper) DumpSource() Source { return ownSource{} }

type both struct {
	querier
	dumper
}

// SourceOf takes a configuration's own source before its InfluxQL
// endpoint, and has none for a store that offers neither.
func TestSourceOf(t *testing.T) {
	tests := []struct {
		name   string
		config any
		want   Source
		ok     bool
	}{
		{"InfluxQL", querier{}, influxSource{e: influx.Endpoint{URL: "http://influx:8086"}}, true},
		{"own", dumper{}, ownSource{}, true},
		{"both", both{}, ownSource{}, true},
		{"neither", struct{}{}, nil, false},
		{"nil", nil, nil, false},
	}
	for _, tc := range tests {
		got, ok := SourceOf(tc.config)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: SourceOf = %#v, %v; want %#v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
