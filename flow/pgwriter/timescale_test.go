package pgwriter

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mqflux/mqflux/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from this run")

// TimescaleDB cannot be installed in the test environment, so the
// statements a writer issues where it is installed are checked against a
// recorded expectation (testdata/timescale.golden, reviewed against
// TimescaleDB's documentation of create_hypertable, ALTER TABLE SET
// (timescaledb.compress ...) and add_compression_policy). The writer runs
// against a real PostgreSQL told that the extension is there; the
// TimescaleDB statements are recorded and not sent, all others are sent
// and recorded, so the test also proves they hold together.
func TestTimescaleStatements(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg, func(c *Config) { c.Timescale.CompressAfter = "7d" })
	yes := true
	w.ts = &yes
	var mu sync.Mutex
	var got []string
	w.exec = func(ctx context.Context, tx pgx.Tx, stmt string) error {
		mu.Lock()
		got = append(got, stmt)
		mu.Unlock()
		if strings.Contains(stmt, "create_hypertable") || strings.Contains(stmt, "timescaledb.") ||
			strings.Contains(stmt, "add_compression_policy") {
			return nil
		}
		return execDDL(ctx, tx, stmt)
	}
	write(t, w, records(fmt.Sprintf(`climate,device=pi-1,site=a temperature=21.5 %d`, t0)))
	write(t, w, records(fmt.Sprintf(`climate,device=pi-1,site=a,room=attic temperature=21.5,humidity=40i %d`, t0+1000)))
	write(t, w, records(fmt.Sprintf(`status,host=gw value=1 %d`, t0))) // no device: no segmentby
	text := strings.Join(got, ";\n") + ";\n"
	golden := filepath.Join("testdata", "timescale.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if text != string(want) {
		t.Errorf("statements differ from %s (go test -run TestTimescaleStatements -update rewrites it):\n--- got ---\n%s--- want ---\n%s", golden, text, want)
	}
	if n := count(t, pg, "climate"); n != 2 {
		t.Errorf("climate holds %d rows, want 2", n)
	}
}

// Without the extension no TimescaleDB statement is issued: the writer
// asks pg_extension.
func TestNoTimescaleWithoutTheExtension(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg, func(c *Config) { c.Timescale.CompressAfter = "7d" })
	var got []string
	w.exec = func(ctx context.Context, tx pgx.Tx, stmt string) error {
		got = append(got, stmt)
		return execDDL(ctx, tx, stmt)
	}
	write(t, w, records(fmt.Sprintf(`plain,device=d value=1 %d`, t0)))
	if w.ts == nil || *w.ts {
		t.Errorf("timescale = %v after asking a server without it", w.ts)
	}
	for _, s := range got {
		if strings.Contains(s, "hypertable") || strings.Contains(s, "timescaledb") {
			t.Errorf("issued %q without TimescaleDB", s)
		}
	}
}
