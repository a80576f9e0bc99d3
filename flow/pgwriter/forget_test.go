package pgwriter

import (
	"context"
	"testing"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/testenv"
)

// Forgetting a device with its data deletes its rows from every table and
// no other device's, whatever its name holds.
func TestDeleteDevice(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	hostile := `pi ' OR '1'='1`
	if rej := write(t, w, records(
		`temp,device=pi value=1 1000000000`,
		`temp,device=victim value=2 1000000000`,
		`hum,device=pi value=3 1000000000`,
		`hum,device=victim value=4 1000000000`,
		`hum,device=pi\ '\ OR\ '1'\='1 value=5 1000000000`,
	)); len(rej) != 0 {
		t.Fatal(rej)
	}
	cfg := w.cfg
	del := output.Config(&cfg).(output.DeviceDeleter)
	for _, dev := range []string{hostile, "pi", "never-seen"} {
		if err := del.DeleteDevice(context.Background(), dev); err != nil {
			t.Fatalf("DeleteDevice(%q): %v", dev, err)
		}
	}
	for table, want := range map[string]int64{"temp": 1, "hum": 1} {
		if n := count(t, pg, table); n != want {
			t.Errorf("%s holds %d rows, want %d (the victim's)", table, n, want)
		}
	}
	if rows := pg.Query(t, `SELECT device FROM hum UNION ALL SELECT device FROM temp`); len(rows) != 2 || rows[0][0] != "victim" || rows[1][0] != "victim" {
		t.Errorf("left %v, want the victim's two rows", rows)
	}
	pg.Stop(t)
	if err := del.DeleteDevice(context.Background(), "victim"); err == nil {
		t.Error("PostgreSQL down: no error")
	}
}
