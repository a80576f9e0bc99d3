package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// devices forget and deadletter replay send -user with the password read
// from -password-file (its newline trimmed) to the server's HTTP API; a
// password file that cannot be read stops the command, naming the flag.
func TestCommandsSendTheirLogin(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+user+":"+pass)
		mu.Unlock()
		if !ok {
			http.Error(w, "login wanted", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{})
	}))
	defer ts.Close()
	env := []string{"MQFLUX_HTTP_ADDRESS=" + strings.TrimPrefix(ts.URL, "http://"), "MQFLUX_DATA_DIR=" + t.TempDir()}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(" s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"devices", "forget", "pi-1", "-user", "root", "-password-file", pw}, "DELETE /v1/devices/pi-1 root:s3cret"},
		{[]string{"deadletter", "replay", "-user", "ops", "-password-file", pw}, "POST /v1/deadletter/replay ops:s3cret"},
		{[]string{"deadletter", "replay"}, "POST /v1/deadletter/replay :"},
	}
	for _, tt := range tests {
		got = nil
		_, errb, err := runProgram(t, "", env, tt.args...)
		mu.Lock()
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("%v: server saw %q, want %q (%v %s)", tt.args, got, tt.want, err, errb)
		}
		mu.Unlock()
	}
	missing := filepath.Join(t.TempDir(), "none")
	for _, args := range [][]string{
		{"devices", "forget", "pi-1", "-user", "root", "-password-file", missing},
		{"deadletter", "replay", "-user", "ops", "-password-file", missing},
	} {
		got = nil
		if _, _, err := runProgram(t, "", env, args...); err == nil || !strings.Contains(err.Error(), "password-file") {
			t.Errorf("%v: %v, want an error naming -password-file", args, err)
		}
		if len(got) != 0 {
			t.Errorf("%v: asked the server %q without its password", args, got)
		}
	}
}
