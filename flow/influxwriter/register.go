package influxwriter

import (
	"fmt"
	"log/slog"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/flow/output"
)

// Kind is the name outputs: entries give this output (kind: influxdb).
const Kind = "influxdb"

func init() {
	output.Register(Kind, output.Kind{
		DefaultConfig: func() output.Config {
			o := DefaultOptions()
			return &o
		},
		New: newOutput,
	})
}

// newOutput builds the Writer of one outputs: entry, its metrics labelled
// with the entry's name.
func newOutput(name string, c output.Config, log *slog.Logger) (output.Output, error) {
	o, ok := c.(*Options)
	if !ok {
		return nil, fmt.Errorf("output %s: %T is not an %s configuration", name, c, Kind)
	}
	wc := o.Config()
	wc.Name = name
	w, err := New(wc, log)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", name, err)
	}
	return w, nil
}

// Feed is how the pipeline feeds the writer: the batch, flush, concurrency,
// backoff and drain keys.
func (o *Options) Feed() output.Feed {
	return output.Feed{BatchSize: o.BatchSize, FlushInterval: o.FlushInterval, Concurrency: o.Concurrency,
		MaxBackoff: o.MaxBackoff, DrainTimeout: o.DrainTimeout}
}

// Describe is what the health views show: the URL, the API and the bucket
// (never the token).
func (o *Options) Describe() output.Description {
	api, _ := normalAPI(o.API)
	return output.Description{Target: o.URL, Details: map[string]string{"api": api, "bucket": o.Bucket}}
}

// QueryEndpoint is where InfluxDB answers InfluxQL: the same server and
// bucket the writer writes to.
func (o *Options) QueryEndpoint() influx.Endpoint {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return influx.Endpoint{URL: o.URL, Bucket: o.Bucket, Token: o.Token, API: o.API, Timeout: timeout}
}
