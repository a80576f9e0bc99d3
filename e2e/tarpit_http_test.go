package e2e

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqflux/mqflux/internal/testenv"
	"github.com/mqflux/mqflux/passwd"
)

// Point: HTTP logins are tarpitted like MQTT ones. 16 guessers, each from
// an address of its own, guess readers' passwords (basic auth on
// /v1/latest) and legacy API keys on a server whose HTTP API listens
// beyond loopback. Once an address is in backoff its requests are held by
// the broker's tarpit, then answered 429 with Retry-After without a
// password check, instead of 429 at once; meanwhile a reader and a legacy
// logger from a clean address are served, and a device publishing over
// MQTT has every reading stored once.
func TestHTTPPasswordGuessersAreTarpitted(t *testing.T) {
	const guessers, readings = 16, 300
	in := testenv.StartInflux(t)
	keyHash, err := passwd.Hash([]byte("tarpit-legacy-key"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"MQFLUX_INFLUX_URL=" + in.URL, "MQFLUX_INFLUX_BUCKET=" + in.Bucket(), "MQFLUX_INFLUX_DRAIN_TIMEOUT=30s",
		fmt.Sprintf(`MQFLUX_HTTP_LEGACY_KEYS=[{key_hash: %q, device: "*"}]`, keyHash),
	}
	if in.User != "" {
		env = append(env, "MQFLUX_INFLUX_TOKEN="+in.Token())
	}
	srv := startExposed(t, env...)
	// /metrics is guarded beyond loopback: read it as the reader, from a
	// clean address.
	honest := clientFrom(net.IPv4(127, 0, 0, 1))
	metrics := func() string {
		t.Helper()
		a := getAs(t, honest, srv, "/metrics", exposedReader)
		if a.code != http.StatusOK {
			t.Fatalf("GET /metrics as the reader: %d %s", a.code, a.body)
		}
		return a.body
	}
	measurement := "e2e_tarpit_http"
	topic := "devices/" + exposedDevice.User + "/sensors/" + measurement
	// The device logs in before the flood, as one in the field has.
	mosquittoPublishLines(t, srv.MQTT, exposedDevice, topic+"_warm", []string{"1"})

	attempts, accepted, stop := startGuessers(guessVia{http: true}, srv.HTTP, guessers)
	defer stop()
	// Every guesser held twice, or (nothing holding them) 100 guesses
	// each, whichever comes first.
	waitFor(t, 3*time.Minute, "the HTTP guessers held or under way", func() bool {
		return metricValue(t, metrics(), `mqflux_tarpit_held_total{listener="http"}`) >= 2*guessers || attempts.Load() >= 100*guessers
	})

	values := make([]string, readings)
	for i := range values {
		values[i] = strconv.Itoa(i + 1)
	}
	mosquittoPublishLines(t, srv.MQTT, exposedDevice, topic, values)
	if a := getAs(t, honest, srv, "/v1/latest", exposedReader); a.code != http.StatusOK {
		t.Errorf("a reader from a clean address during the flood: %d %s, want 200", a.code, a.body)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+"/v1/log-temperature", strings.NewReader(`{"temperature": 21.5}`))
	req.Header.Set("X-authorization", "tarpit-legacy-key")
	req.Header.Set("X-node-id", "honest-logger")
	if resp, err := honest.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a legacy logger with the right key from a clean address during the flood: %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	// A guesser's address in backoff is answered 429 with Retry-After
	// (its backoff may just have run out: then it is checked, 401, and
	// backed off again).
	probe := clientFrom(net.IPv4(127, 0, 1, 1))
	var last answer
	for range 4 {
		if last = getAs(t, probe, srv, "/v1/latest", testenv.Login{User: "victim", Password: "wrong-password"}); last.code == http.StatusTooManyRequests {
			break
		}
	}
	if after, err := strconv.Atoi(last.header.Get("Retry-After")); last.code != http.StatusTooManyRequests || err != nil || after < 1 {
		t.Errorf("a guess from an address in backoff: %d, Retry-After %q; want 429 with Retry-After", last.code, last.header.Get("Retry-After"))
	}
	stop()
	waitStored(t, in, measurement, readings, time.Minute)
	checkStoredOnce(t, in, measurement, readings)

	m := metrics()
	held := metricValue(t, m, `mqflux_tarpit_held_total{listener="http"}`)
	backoff := sumSeries(t, m, `mqflux_http_denied_total`, `reason="backoff"`) + sumSeries(t, m, `mqflux_http_rejected_total`, `reason="key_backoff"`)
	checked := sumSeries(t, m, `mqflux_http_denied_total`, `reason="bad_password"`) + sumSeries(t, m, `mqflux_http_denied_total`, `reason="unknown_user"`) +
		sumSeries(t, m, `mqflux_http_rejected_total`, `reason="key_wrong"`)
	t.Logf("%d HTTP guessers: %d guesses answered, %.0f held by the tarpit, %.0f refused for backoff, %.0f checked and refused",
		guessers, attempts.Load(), held, backoff, checked)
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d wrong-password requests were served", n)
	}
	if held < 2*guessers {
		t.Errorf("the tarpit held %.0f HTTP requests of %d guessers; want each held at least twice", held, guessers)
	}
	// A backoff refusal the tarpit did not hold was answered at once: the
	// guesser went straight round again. (The probe's request counts.)
	if atOnce := backoff - held; atOnce > guessers {
		t.Errorf("%.0f HTTP backoff refusals, %.0f of them held: %.0f answered at once; want each held", backoff, held, atOnce)
	}
}

// sumSeries adds up the series of metric whose labels contain label.
func sumSeries(t *testing.T, page, metric, label string) float64 {
	t.Helper()
	var n float64
	for _, m := range regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(metric)+`\{([^}]*)\} (\S+)$`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[1], label) {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("%s{%s}: %v", metric, m[1], err)
		}
		n += v
	}
	return n
}
