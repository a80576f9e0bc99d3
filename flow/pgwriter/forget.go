package pgwriter

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DeleteDevice deletes every row of device in every table of the output's
// schema that has a device column (DELETE /v1/devices/{device}?data=true
// when this is the first output), in one transaction, the name passed as
// a parameter.
func (c *Config) DeleteDevice(ctx context.Context, device string) error {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	fail := func(err error) error {
		return fmt.Errorf("delete the rows of device %q: %s", device, redact(err.Error(), c.URL))
	}
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		return fail(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = $1 AND column_name = 'device' AND data_type = 'text'`, c.Schema)
	if err != nil {
		return fail(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	for _, t := range tables {
		if _, err := tx.Exec(ctx, `DELETE FROM `+ident(c.Schema, t)+` WHERE "device" = $1`, device); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}
