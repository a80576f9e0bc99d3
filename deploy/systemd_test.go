package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/server"
)

// unit is a systemd unit file: section → key → every value given, in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: not key=value in a section: %q", path, n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is the effective value of a key (a later assignment wins).
func (u unit) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// systemdSeconds reads "30s", "1min 30s" or a plain number of seconds.
func systemdSeconds(t *testing.T, v string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(strings.NewReplacer("min", "m", " ", "").Replace(v))
	if err != nil {
		t.Fatalf("duration %q: %v", v, err)
	}
	return d
}

func TestSystemdUnit(t *testing.T) {
	path := deployPath(t, "systemd/mqflux.service")
	u := parseUnit(t, path)
	svc := "Service"

	start, _ := u.last(svc, "ExecStart")
	if f := strings.Fields(start); len(f) < 4 || f[0] != "/usr/local/bin/mqflux" || f[1] != "serve" ||
		f[2] != "-config" || f[3] != "/etc/mqflux/config.yaml" {
		t.Errorf("ExecStart=%s: want /usr/local/bin/mqflux serve -config /etc/mqflux/config.yaml", start)
	}
	user, hasUser := u.last(svc, "User")
	dyn, _ := u.last(svc, "DynamicUser")
	if (!hasUser || user == "root" || user == "0") && dyn != "yes" {
		t.Errorf("the service must run as its own user (User=mqflux or DynamicUser=yes), got User=%q DynamicUser=%q", user, dyn)
	}
	if !contains(u[svc]["Environment"], "MQFLUX_DATA_DIR=/var/lib/mqflux") {
		t.Errorf("Environment=%v: want MQFLUX_DATA_DIR=/var/lib/mqflux", u[svc]["Environment"])
	}

	want := map[string]string{
		"StateDirectory":          "mqflux",
		"Restart":                 "on-failure",
		"KillSignal":              "SIGTERM",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallFilter":        "@system-service",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	}
	for k, w := range want {
		if got, _ := u.last(svc, k); got != w {
			t.Errorf("%s=%q, want %q", k, got, w)
		}
	}
	if _, ok := u.last(svc, "RestartSec"); !ok {
		t.Error("RestartSec is not set")
	}
	if caps, ok := u.last(svc, "CapabilityBoundingSet"); !ok || (caps != "" && caps != "CAP_NET_BIND_SERVICE") {
		t.Errorf("CapabilityBoundingSet=%q (set: %v): want it empty, or CAP_NET_BIND_SERVICE alone", caps, ok)
	}

	// The stop timeout leaves room for the drain and the HTTP shutdown (5 s).
	stop, _ := u.last(svc, "TimeoutStopSec")
	drain := server.DefaultConfig().Influx.DrainTimeout
	if systemdSeconds(t, stop) <= drain+5*time.Second {
		t.Errorf("TimeoutStopSec=%s must exceed influx.drain_timeout (%s) + 5s", stop, drain)
	}
	// One descriptor per MQTT connection: room for max_clients and then some.
	nofile, _ := u.last(svc, "LimitNOFILE")
	if n, err := strconv.Atoi(nofile); err != nil || n < server.DefaultConfig().Broker.MaxClients+1024 {
		t.Errorf("LimitNOFILE=%s: want at least broker.max_clients (%d) + 1024", nofile, server.DefaultConfig().Broker.MaxClients)
	}
	if w, _ := u.last("Install", "WantedBy"); w != "multi-user.target" {
		t.Errorf("WantedBy=%q, want multi-user.target", w)
	}
}

// TestSystemdAnalyzeVerify runs systemd-analyze verify where it exists. It
// is a check of the file's syntax and known keys, not a component mqflux
// needs, so its absence skips even in CI. The binary path is pointed at an
// existing executable, since verify checks that ExecStart can run.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit file was only parsed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unitText := strings.ReplaceAll(string(readFile(t, deployPath(t, "systemd/mqflux.service"))), "/usr/local/bin/mqflux", self)
	dir := t.TempDir()
	path := filepath.Join(dir, "mqflux.service")
	if err := os.WriteFile(path, []byte(unitText), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	var complaints []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "mqflux.service") {
			complaints = append(complaints, line)
		}
	}
	sort.Strings(complaints)
	if err != nil || len(complaints) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(complaints, "\n"))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
