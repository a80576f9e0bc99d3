package pgwriter

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/internal/testenv"
)

// newWriter is a Writer on the test's server, closed when the test ends.
func newWriter(t testing.TB, pg *testenv.Postgres, change ...func(*Config)) *Writer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URL = pg.URL()
	cfg.Timeout = 20 * time.Second
	for _, c := range change {
		c(&cfg)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// records makes one record per line.
func records(lines ...string) [][]byte {
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = []byte(l + "\n")
	}
	return out
}

// write stores recs and fails the test on an error.
func write(t testing.TB, w *Writer, recs [][]byte) []output.Rejected {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rej, err := w.Write(ctx, recs)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return rej
}

// columns is table's columns and types, in order.
func columns(t testing.TB, pg *testenv.Postgres, table string) string {
	t.Helper()
	rows := pg.Query(t, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, table)
	var b []string
	for _, r := range rows {
		b = append(b, fmt.Sprintf("%s %s", r[0], r[1]))
	}
	return strings.Join(b, ", ")
}

// count is the number of rows of a table.
func count(t testing.TB, pg *testenv.Postgres, table string) int64 {
	t.Helper()
	rows := pg.Query(t, "SELECT count(*) FROM "+quote(table))
	return rows[0][0].(int64)
}

// keys are the mqflux_key indexes of a table, as their definitions.
func keys(t testing.TB, pg *testenv.Postgres, table string) []string {
	t.Helper()
	var out []string
	for _, r := range pg.Query(t, `SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname LIKE 'mqflux\_key\_%'`, table) {
		out = append(out, r[0].(string))
	}
	return out
}

const t0 = int64(1795456800000000000) // 2026-11-23T18:00:00Z in ns

// retryWrite offers recs until they are settled, as the pipeline does,
// for a minute at most; rejections fail the test.
func retryWrite(t testing.TB, w *Writer, recs [][]byte) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rej, err := w.Write(context.Background(), recs)
		if err == nil {
			if len(rej) != 0 {
				t.Fatalf("rejected %v", rej)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Write still failing after a minute: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
