package influxwriter_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/mqflux/mqflux/flow/influxwriter"
)

func Example() {
	cfg := influxwriter.DefaultConfig("http://127.0.0.1:8086", "telemetry/autogen")
	cfg.Token = "writer:secret" // InfluxDB 1.8: "user:password"
	w, err := influxwriter.New(cfg, slog.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	write := func(ctx context.Context, records [][]byte) error {
		rejected, err := w.Write(ctx, records)
		if err != nil {
			return err // ctx done: nothing promised, keep the records
		}
		for _, r := range rejected {
			fmt.Printf("dead-letter record %d: %s\n", r.Index, r.Reason)
		}
		return nil // every other record is stored
	}
	_ = write
}
