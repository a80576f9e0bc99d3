package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// DuckDBNodeAPIVersion is the @duckdb/node-api release make tools
// installs (DUCKDB_NODE_VERSION in the Makefile).
const DuckDBNodeAPIVersion = "1.5.6-r.1"

// duckdbScript runs one SQL statement and prints its rows as JSON.
const duckdbScript = `import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const r = await con.runAndReadAll(process.argv[2]);
process.stdout.write(JSON.stringify(r.getRowObjectsJson()));
`

// DuckDB runs sql in an in-memory DuckDB (the @duckdb/node-api package
// run by node; make tools installs it into bin/duckdb) and returns its
// rows, each a column → value map as DuckDB's JSON rendering has it
// (big integers and timestamps as strings). It reads Parquet files
// independently of the library that wrote them. Any failure fails the
// test; a missing node or package ends it through Missing.
func DuckDB(t testing.TB, sql string) []map[string]any {
	t.Helper()
	node := RequireCommand(t, "node")
	modules := os.Getenv("MQFLUX_DUCKDB_NODE_MODULES")
	if modules == "" {
		modules = filepath.Join(ModuleRoot(t), "bin", "duckdb", "node_modules")
	}
	if _, err := os.Stat(filepath.Join(modules, "@duckdb", "node-api")); err != nil {
		Missing(t, "@duckdb/node-api "+DuckDBNodeAPIVersion, "run make tools, or set MQFLUX_DUCKDB_NODE_MODULES to a node_modules holding it")
	}
	// node resolves packages from the script's folder up: the script sits
	// beside a link to the installed node_modules.
	dir := t.TempDir()
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	script := filepath.Join(dir, "query.mjs")
	if err := os.WriteFile(script, []byte(duckdbScript), 0o600); err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, script, sql)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("duckdb %q: %v\n%s", sql, err, stderr.String())
	}
	var rows []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		t.Fatalf("duckdb %q: decode %.300q: %v", sql, stdout.String(), err)
	}
	return rows
}
