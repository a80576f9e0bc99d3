package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FakeJournalctl writes into dir a script that stands in for journalctl
// (no journald runs where the tests do): it logs its arguments to argsLog,
// prints the entries of the fixture (journalctl -o json lines) after
// --after-cursor, all of them without one, then waits as -f does.
func FakeJournalctl(t testing.TB, dir, fixture string) (cmd, argsLog string) {
	t.Helper()
	cmd, argsLog = filepath.Join(dir, "journalctl"), filepath.Join(dir, "journalctl.args")
	script := fmt.Sprintf(`#!/bin/sh
echo "$@" >> %[1]s
cursor=""
for a in "$@"; do case "$a" in --after-cursor=*) cursor="${a#--after-cursor=}";; esac; done
if [ -z "$cursor" ]; then cat %[2]s; else grep -F -A 100000 "\"__CURSOR\":\"$cursor\"" %[2]s | tail -n +2; fi
exec sleep 600
`, argsLog, fixture)
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatalf("write fake journalctl: %v", err)
	}
	return cmd, argsLog
}
