package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/internal/testenv"
	"github.com/mqflux/mqflux/passwd"
	"github.com/mqflux/mqflux/server"
)

// deployPath is a file of this directory, read from the module root so the
// same paths work from any working directory.
func deployPath(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(testenv.ModuleRoot(t), "deploy", filepath.FromSlash(rel))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseYAML(t *testing.T, path string, dst any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, path), dst); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// compose is the part of docker-compose.yml the tests look at.
type compose struct {
	Services map[string]struct {
		Image       string                                `yaml:"image"`
		Build       *struct{ Context, Dockerfile string } `yaml:"build"`
		Environment map[string]string                     `yaml:"environment"`
		Ports       []string                              `yaml:"ports"`
		Volumes     []string                              `yaml:"volumes"`
		StopGrace   string                                `yaml:"stop_grace_period"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	var c compose
	parseYAML(t, deployPath(t, "docker-compose.yml"), &c)
	return c
}

// envExample is deploy/.env.example: each variable, its value, and whether
// a comment documents it.
type envVar struct {
	value      string
	documented bool
}

func loadEnvExample(t *testing.T) map[string]envVar {
	t.Helper()
	path := deployPath(t, ".env.example")
	lines := strings.Split(string(readFile(t, path)), "\n")
	assign := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)
	vars := map[string]envVar{}
	for i, line := range lines {
		m := assign.FindStringSubmatch(line)
		if m == nil {
			if s := strings.TrimSpace(line); s != "" && !strings.HasPrefix(s, "#") {
				t.Errorf("%s:%d: neither a comment nor NAME=value: %q", path, i+1, line)
			}
			continue
		}
		// A comment right above, or above a run of variables that share it.
		j := i - 1
		for j >= 0 && assign.MatchString(lines[j]) {
			j--
		}
		documented := j >= 0 && strings.HasPrefix(strings.TrimSpace(lines[j]), "#")
		if _, dup := vars[m[1]]; dup {
			t.Errorf("%s:%d: %s is set twice", path, i+1, m[1])
		}
		vars[m[1]] = envVar{value: unquote(m[2]), documented: documented}
	}
	return vars
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// varsIn lists the variables a compose or Grafana provisioning file expands:
// $NAME and ${NAME...}, nested defaults included, "$$" being a literal "$".
func varsIn(t *testing.T, path string) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(readFile(t, path), &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	ref := regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)
	seen := map[string]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			for _, m := range ref.FindAllStringSubmatch(strings.ReplaceAll(n.Value, "$$", ""), -1) {
				seen[m[1]] = true
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func provisioningFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(deployPath(t, "grafana/*/*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("grafana provisioning files: %v %v (want datasources/*.yaml and dashboards/*.yaml)", files, err)
	}
	return files
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"mqflux", "influxdb", "grafana", "prometheus"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml: no service %q", name)
		}
	}
	mq := c.Services["mqflux"]
	if mq.Build == nil || mq.Build.Context != ".." || mq.Build.Dockerfile != "deploy/Dockerfile" {
		t.Errorf("mqflux.build = %+v, want context .. and dockerfile deploy/Dockerfile", mq.Build)
	}
	for _, port := range []string{"1883", "8080"} {
		found := false
		for _, p := range mq.Ports {
			found = found || strings.HasSuffix(p, ":"+port)
		}
		if !found {
			t.Errorf("mqflux.ports %v do not publish container port %s", mq.Ports, port)
		}
	}
	if got := mq.Environment["MQFLUX_INFLUX_URL"]; got != "http://influxdb:8086" {
		t.Errorf("mqflux MQFLUX_INFLUX_URL = %q, want http://influxdb:8086", got)
	}
	for _, k := range []string{"MQFLUX_INFLUX_TOKEN", "MQFLUX_INFLUX_ORG", "MQFLUX_INFLUX_BUCKET", "MQFLUX_BROKER_USERS"} {
		if !strings.Contains(mq.Environment[k], "${") {
			t.Errorf("mqflux %s = %q, want it from .env", k, mq.Environment[k])
		}
	}
	// Stopping must leave the drain its time (plus the 5 s HTTP shutdown).
	var cfg struct {
		Influx struct {
			DrainTimeout string `yaml:"drain_timeout"`
		} `yaml:"influx"`
	}
	parseYAML(t, deployPath(t, "config.docker.yaml"), &cfg)
	drain, err1 := time.ParseDuration(cfg.Influx.DrainTimeout)
	grace, err2 := time.ParseDuration(mq.StopGrace)
	if err1 != nil || err2 != nil || grace <= drain+5*time.Second {
		t.Errorf("mqflux stop_grace_period %q must exceed influx.drain_timeout %q + 5s (%v %v)", mq.StopGrace, cfg.Influx.DrainTimeout, err1, err2)
	}

	in := c.Services["influxdb"]
	if in.Image != "influxdb:2.7" {
		t.Errorf("influxdb image %q, want influxdb:2.7", in.Image)
	}
	for _, k := range []string{"MODE", "USERNAME", "PASSWORD", "ORG", "BUCKET", "ADMIN_TOKEN"} {
		if in.Environment["DOCKER_INFLUXDB_INIT_"+k] == "" {
			t.Errorf("influxdb: DOCKER_INFLUXDB_INIT_%s not set", k)
		}
	}
	if !strings.HasPrefix(c.Services["grafana"].Image, "grafana/grafana-oss") {
		t.Errorf("grafana image %q, want grafana/grafana-oss", c.Services["grafana"].Image)
	}

	// Every bind mount exists, and each named volume is declared.
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(deployPath(t, src)); err != nil {
					t.Errorf("%s: volume %q: %v", name, v, err)
				}
				if !strings.HasSuffix(v, ":ro") {
					t.Errorf("%s: bind mount %q should be read-only (:ro)", name, v)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: volume %q is not declared under volumes:", name, src)
			}
		}
	}

	// Prometheus scrapes the mqflux service on its HTTP port.
	var prom struct {
		ScrapeConfigs []struct {
			MetricsPath string `yaml:"metrics_path"`
			BasicAuth   struct {
				Username     string `yaml:"username"`
				PasswordFile string `yaml:"password_file"`
			} `yaml:"basic_auth"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	parseYAML(t, deployPath(t, "prometheus/prometheus.yml"), &prom)
	if len(prom.ScrapeConfigs) != 1 || prom.ScrapeConfigs[0].MetricsPath != "/metrics" ||
		len(prom.ScrapeConfigs[0].StaticConfigs) != 1 || strings.Join(prom.ScrapeConfigs[0].StaticConfigs[0].Targets, ",") != "mqflux:8080" {
		t.Errorf("prometheus.yml: want one job scraping mqflux:8080/metrics, got %+v", prom.ScrapeConfigs)
	}
	// Beyond loopback /metrics needs a reader login (server/readauth.go).
	if ba := prom.ScrapeConfigs[0].BasicAuth; len(prom.ScrapeConfigs) == 1 && (ba.Username == "" || ba.PasswordFile == "") {
		t.Errorf("prometheus.yml: the mqflux job needs basic_auth with a username and a password_file, got %+v", ba)
	}
}

func TestProvisioningParses(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL string
			JSONData             map[string]any    `yaml:"jsonData"`
			SecureJSONData       map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	parseYAML(t, deployPath(t, "grafana/datasources/mqflux.yaml"), &ds)
	uids := map[string]string{}
	for _, d := range ds.Datasources {
		uids[d.UID] = d.Type
	}
	if ds.APIVersion != 1 || uids[influxUID] != "influxdb" || uids[promUID] != "prometheus" {
		t.Fatalf("datasources: want apiVersion 1 and uids %s (influxdb), %s (prometheus); got %d %v", influxUID, promUID, ds.APIVersion, uids)
	}
	for _, d := range ds.Datasources {
		if d.Type != "influxdb" {
			continue
		}
		// InfluxQL: answered by InfluxDB 1.x, 2.x (/query and its DBRP
		// mapping) and 3.x alike.
		if d.JSONData["version"] != "InfluxQL" || d.URL != "http://influxdb:8086" {
			t.Errorf("InfluxDB data source: version %v url %q, want InfluxQL and http://influxdb:8086", d.JSONData["version"], d.URL)
		}
		// The database is the bucket, through InfluxDB 2's virtual DBRP mapping.
		if s, _ := d.JSONData["dbName"].(string); s != "${INFLUX_BUCKET}" {
			t.Errorf("InfluxDB data source: jsonData.dbName = %v, want the bucket from the environment", d.JSONData["dbName"])
		}
		if d.JSONData["httpHeaderName1"] != "Authorization" || !strings.HasPrefix(d.SecureJSONData["httpHeaderValue1"], "Token ${") {
			t.Errorf("InfluxDB data source: the token must come from the environment, not the file, as header Authorization: Token ${...}; got %v %q",
				d.JSONData["httpHeaderName1"], d.SecureJSONData["httpHeaderValue1"])
		}
	}
	// Grafana reads the bucket mqflux writes and InfluxDB 2 creates, as the
	// database its virtual DBRP mapping names: the bucket itself, as long
	// as the name has no "/" (then the database is what comes before it).
	c := loadCompose(t)
	buckets := []string{
		c.Services["grafana"].Environment["INFLUX_BUCKET"],
		c.Services["influxdb"].Environment["DOCKER_INFLUXDB_INIT_BUCKET"],
		c.Services["mqflux"].Environment["MQFLUX_INFLUX_BUCKET"],
	}
	if buckets[0] != buckets[1] || buckets[0] != buckets[2] || strings.Contains(buckets[0], "/") {
		t.Errorf("grafana INFLUX_BUCKET, influxdb DOCKER_INFLUXDB_INIT_BUCKET, mqflux MQFLUX_INFLUX_BUCKET = %q: want the same, without \"/\"", buckets)
	}
	var prov struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	parseYAML(t, deployPath(t, "grafana/dashboards/mqflux.yaml"), &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path != "/etc/grafana/provisioning/dashboards" {
		t.Errorf("dashboard provider: %+v, want one file provider reading /etc/grafana/provisioning/dashboards", prov.Providers)
	}
	// That path is where compose mounts grafana/dashboards.
	mounted := false
	for _, v := range loadCompose(t).Services["grafana"].Volumes {
		mounted = mounted || v == "./grafana/dashboards:/etc/grafana/provisioning/dashboards:ro"
	}
	if !mounted {
		t.Errorf("compose does not mount ./grafana/dashboards at /etc/grafana/provisioning/dashboards")
	}
}

// TestEnvDocumented: every variable compose or the provisioning expands is
// in .env.example with a comment, and .env.example lists nothing unused.
// Grafana expands provisioning variables from its own environment, so
// those must also be passed to the grafana service.
func TestEnvDocumented(t *testing.T) {
	env := loadEnvExample(t)
	used := map[string]string{}
	for _, v := range varsIn(t, deployPath(t, "docker-compose.yml")) {
		used[v] = "docker-compose.yml"
	}
	grafanaEnv := loadCompose(t).Services["grafana"].Environment
	for _, f := range provisioningFiles(t) {
		for _, v := range varsIn(t, f) {
			if _, ok := grafanaEnv[v]; !ok {
				t.Errorf("%s uses ${%s}, which the grafana service's environment does not set", f, v)
			}
			if !strings.Contains(grafanaEnv[v], "${") {
				t.Errorf("grafana environment %s = %q: want it from .env", v, grafanaEnv[v])
			}
		}
	}
	for v, where := range used {
		e, ok := env[v]
		switch {
		case !ok:
			t.Errorf("%s uses ${%s}, which .env.example does not list", where, v)
		case !e.documented:
			t.Errorf(".env.example: %s has no comment above it", v)
		}
	}
	for v := range env {
		if _, ok := used[v]; !ok {
			t.Errorf(".env.example lists %s, which nothing uses", v)
		}
	}
	// No secret is committed: every secret is empty in the example.
	for v, e := range env {
		secret := strings.Contains(v, "PASSWORD") || strings.Contains(v, "TOKEN") || strings.Contains(v, "USERS") || strings.Contains(v, "KEYS")
		if secret && e.value != "" {
			t.Errorf(".env.example: %s=%q: leave secrets empty, the user fills them in", v, e.value)
		}
	}
}

// TestComposeConfig feeds config.docker.yaml the environment compose gives
// the mqflux container (interpolated from .env.example plus users) and
// checks that mqflux accepts it: every MQFLUX_ variable names a key, and the
// file itself ships no demo user or key.
func TestComposeConfig(t *testing.T) {
	path := deployPath(t, "config.docker.yaml")
	bare := server.DefaultConfig()
	if _, err := configfile.LoadFile(path, &bare, nil); err != nil {
		t.Fatal(err)
	}
	if len(bare.Broker.Users) != 0 || len(bare.HTTP.Legacy.Keys) != 0 {
		t.Errorf("config.docker.yaml listens beyond loopback, so it must ship no users or keys; has %d users, %d keys",
			len(bare.Broker.Users), len(bare.HTTP.Legacy.Keys))
	}
	if configfile.IsLoopback(bare.Broker.TCP) || configfile.IsLoopback(bare.HTTP.Address) || bare.DataDir != "/var/lib/mqflux" {
		t.Errorf("config.docker.yaml: broker.tcp %q, http.address %q, data_dir %q: want all interfaces and /var/lib/mqflux",
			bare.Broker.TCP, bare.HTTP.Address, bare.DataDir)
	}

	dotenv := map[string]string{}
	for k, v := range loadEnvExample(t) {
		dotenv[k] = v.value
	}
	mqEnv := loadCompose(t).Services["mqflux"].Environment
	// As shipped, .env.example has no users: compose must refuse to start.
	if _, err := interpolate(mqEnv["MQFLUX_BROKER_USERS"], dotenv); err == nil {
		t.Errorf("MQFLUX_BROKER_USERS empty in .env: compose should refuse to start (use ${VAR:?message})")
	}

	hash, err := passwd.Hash([]byte("a-long-random-password"), 4)
	if err != nil {
		t.Fatal(err)
	}
	dotenv["MQFLUX_BROKER_USERS"] = `[{name: pi-kitchen, password_hash: "` + hash + `", role: device}]`
	dotenv["MQFLUX_HTTP_LEGACY_KEYS"] = `[{key_hash: "` + hash + `", device: "*"}]`
	dotenv["INFLUX_ADMIN_TOKEN"] = "admin-token"
	var environ []string
	for k, v := range mqEnv {
		val, err := interpolate(v, dotenv)
		if err != nil {
			t.Fatalf("compose mqflux environment %s: %v", k, err)
		}
		environ = append(environ, k+"="+val)
	}
	cfg := server.DefaultConfig()
	warnings, err := configfile.LoadFile(path, &cfg, environ)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("compose passes variables mqflux does not know: %v", warnings)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.docker.yaml with the compose environment: %v", err)
	}
	want := map[string]string{
		"influx.url": "http://influxdb:8086", "influx.token": "admin-token",
		"influx.org": dotenv["INFLUX_ORG"], "influx.bucket": dotenv["INFLUX_BUCKET"],
	}
	for key, w := range want {
		if got, _ := configfile.Lookup(&cfg, key); got != w {
			t.Errorf("%s = %q, want %q", key, got, w)
		}
	}
	if len(cfg.Broker.Users) != 1 || cfg.Broker.Users[0].Name != "pi-kitchen" || cfg.Broker.Users[0].PasswordHash != hash {
		t.Errorf("broker.users from MQFLUX_BROKER_USERS = %+v", cfg.Broker.Users)
	}
	if len(cfg.HTTP.Legacy.Keys) != 1 || cfg.HTTP.Legacy.Keys[0].KeyHash != hash {
		t.Errorf("http.legacy.keys from MQFLUX_HTTP_LEGACY_KEYS = %+v", cfg.HTTP.Legacy.Keys)
	}
	// The example in .env.example must not be a demo password either.
	checker := passwd.NewChecker()
	for name, pw := range server.DemoPasswords() {
		if strings.Contains(string(readFile(t, deployPath(t, ".env.example"))), name) {
			t.Errorf(".env.example mentions the demo user %s (password %q)", name, pw)
		}
	}
	if checker.Check(hash, []byte(server.DemoLegacyKey)) {
		t.Fatal("the test's own hash is the demo key")
	}
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "a", "EMPTY": "", "B": "$2a$x"}
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "${A}", want: "a"},
		{in: "x$A-y", want: "xa-y"},
		{in: "${NONE:-d}", want: "d"},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${EMPTY-d}", want: ""},
		{in: "${NONE:-${A}}", want: "a"},
		{in: "${NONE:-[]}", want: "[]"},
		{in: "${B}", want: "$2a$x"},
		{in: "$$A", want: "$A"},
		{in: "${EMPTY:?set it}", err: true},
		{in: "${NONE?set it}", err: true},
		{in: "${A:?set it}", want: "a"},
		{in: "${A", err: true},
	} {
		got, err := interpolate(tc.in, env)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("interpolate(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
