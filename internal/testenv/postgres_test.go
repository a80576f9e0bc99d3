package testenv

import "testing"

// The starter gives a server that takes connections with the password,
// stops and starts again on the same data.
func TestStartPostgres(t *testing.T) {
	p := StartPostgres(t)
	p.Exec(t, "CREATE TABLE kept (n int)")
	p.Exec(t, "INSERT INTO kept VALUES (42)")
	p.Stop(t)
	if _, err := p.TryQuery(t.Context(), "SELECT 1"); err == nil {
		t.Fatal("a query succeeded while the server was stopped")
	}
	p.Start(t)
	rows := p.Query(t, "SELECT n, current_setting('server_version_num')::int FROM kept")
	if len(rows) != 1 || rows[0][0] != int32(42) {
		t.Fatalf("rows after restart = %v, want [[42 ...]]", rows)
	}
	if v := rows[0][1].(int32); v < PostgresMinVersion*10000 {
		t.Errorf("server_version_num %d, want at least %d", v, PostgresMinVersion*10000)
	}
}
