package influxwriter

import (
	"context"
	"fmt"

	"github.com/mqflux/mqflux/flow/influx"
)

// DeleteDevice deletes every series tagged device=device, in every
// measurement of the output's database, with InfluxQL's DROP SERIES
// through POST /query (InfluxDB 1.x; the /query of InfluxDB 2.x and 3.x
// refuses it, and the error says so in InfluxDB's words).
func (o *Options) DeleteDevice(ctx context.Context, device string) error {
	if err := influx.CheckName(device); err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	e := o.QueryEndpoint()
	if e.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.Timeout)
		defer cancel()
	}
	if err := e.Exec(ctx, influx.DropDeviceSeries(device)); err != nil {
		return fmt.Errorf("delete the series of device %q: %w", device, err)
	}
	return nil
}
