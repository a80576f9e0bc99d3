package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqflux/mqflux/internal/testenv"
)

// Point: the tarpit holds password guessers over every MQTT listener, not
// only plain TCP. 16 guessers flood the WebSocket listener, or the TLS
// one, each from an address of its own; once their addresses are in
// backoff every connection is held and refused by the tarpit, unchecked,
// instead of being answered at once by the login's backoff. Meanwhile an
// honest device publishes QoS 1 readings over the same listener (over TLS
// with mosquitto_pub; over WebSocket, which mosquitto_pub does not speak,
// with the Paho client), every one stored exactly once. (The server has
// no WebSocket-over-TLS listener.)
func TestPasswordFloodIsTarpittedOverWebSocketAndTLS(t *testing.T) {
	const guessers, readings = 16, 300
	in := testenv.StartInflux(t)
	users := append(demoUsers(t), fmt.Sprintf(`{name: victim, password_hash: %q, role: device}`, mustHash(t, "victim-password")))
	usersEnv := "MQFLUX_BROKER_USERS=[" + strings.Join(users, ", ") + "]"

	for _, tc := range []struct {
		name string
		// env adds the listener; via and addr are how the guessers reach
		// it; publish sends the honest device's readings over it.
		start func(t *testing.T) (env []string, via guessVia, addr string, publish func(t *testing.T, measurement string, values []string))
	}{
		{"ws", func(t *testing.T) ([]string, guessVia, string, func(*testing.T, string, []string)) {
			addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			return []string{"MQFLUX_BROKER_WEBSOCKET=" + addr}, guessVia{ws: true}, addr,
				func(t *testing.T, m string, values []string) { pahoPublish(t, "ws://"+addr+"/", nil, m, values) }
		}},
		{"tls", func(t *testing.T) ([]string, guessVia, string, func(*testing.T, string, []string)) {
			cert, key := testenv.WriteCert(t)
			addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			return []string{"MQFLUX_BROKER_TLS_ADDRESS=" + addr, "MQFLUX_BROKER_TLS_CERT=" + cert, "MQFLUX_BROKER_TLS_KEY=" + key},
				guessVia{tls: trusting(t, cert)}, addr,
				func(t *testing.T, m string, values []string) {
					mosquittoPublishLines(t, addr, testenv.DemoDevice, "devices/demo-device/sensors/"+m, values, "--cafile", cert)
				}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, via, addr, publish := tc.start(t)
			srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: append(env, usersEnv)})
			measurement := "e2e_tarpit_" + tc.name

			// The device logs in before the flood, as one in the field has.
			publish(t, measurement+"_warm", []string{"1"})

			attempts, accepted, stop := startGuessers(via, addr, guessers)
			defer stop()
			// Every guesser held twice, or (nothing holding them) 100
			// guesses each, whichever comes first.
			waitFor(t, 3*time.Minute, "the guessers held or under way", func() bool {
				_, m := srv.HTTPGet(t, "/metrics")
				return metricValue(t, m, "mqflux_mqtt_tarpit_held_total") >= 2*guessers || attempts.Load() >= 100*guessers
			})

			values := make([]string, readings)
			for i := range values {
				values[i] = strconv.Itoa(i + 1)
			}
			publish(t, measurement, values)
			stop()
			waitStored(t, in, measurement, readings, time.Minute)
			checkStoredOnce(t, in, measurement, readings)

			_, m := srv.HTTPGet(t, "/metrics")
			held := metricValue(t, m, "mqflux_mqtt_tarpit_held_total")
			heldHere := metricValue(t, m, fmt.Sprintf(`mqflux_tarpit_held_total{listener=%q}`, via))
			backoff := metricValue(t, m, `mqflux_mqtt_denied_total{reason="backoff",what="connect"}`)
			t.Logf("%d guessers over %s: %d guesses answered, %.0f held by the tarpit, %.0f refused for backoff (bad_password %v, unknown_user %v, busy %v, tarpit_full %v)",
				guessers, via, attempts.Load(), held, backoff,
				metricValue(t, m, `mqflux_mqtt_denied_total{reason="bad_password",what="connect"}`),
				metricValue(t, m, `mqflux_mqtt_denied_total{reason="unknown_user",what="connect"}`),
				metricValue(t, m, `mqflux_mqtt_denied_total{reason="busy",what="connect"}`),
				metricValue(t, m, `mqflux_mqtt_denied_total{reason="tarpit_full",what="connect"}`))
			if n := accepted.Load(); n != 0 {
				t.Errorf("%d wrong-password connections over %s were accepted", n, via)
			}
			if held < 2*guessers || heldHere != held {
				t.Errorf("the tarpit held %.0f connections of %d guessers over %s (%.0f counted on listener %s); want each held at least twice, on %s",
					held, guessers, via, heldHere, via, via)
			}
			// A backoff refusal the tarpit did not hold was answered at
			// once: the guesser went straight round again. Each guesser
			// has one connection at a time, so its address's backoff is
			// the same at accept and at the login.
			if atOnce := backoff - held; atOnce > guessers {
				t.Errorf("%.0f backoff refusals over %s, %.0f of them held: %.0f answered at once; want each held", backoff, via, held, atOnce)
			}
		})
	}
}

// trusting is a TLS client configuration that trusts the certificate in
// the PEM file cert (testenv.WriteCert's, for 127.0.0.1).
func trusting(t *testing.T, cert string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", cert)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// mosquittoPublishLines publishes values to topic as l, QoS 1, one
// mosquitto_pub connection reading them a line each from its standard
// input.
func mosquittoPublishLines(t *testing.T, addr string, l testenv.Login, topic string, values []string, extra ...string) {
	t.Helper()
	bin := testenv.RequireCommand(t, "mosquitto_pub")
	host, port, _ := strings.Cut(addr, ":")
	args := append([]string{"-h", host, "-p", port, "-u", l.User, "-P", l.Password,
		"-i", "tarpit-honest-device", "-q", "1", "-t", topic, "-l"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(strings.Join(values, "\n") + "\n")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("mosquitto_pub of %d readings not done after 3 minutes: %s", len(values), out)
	}
	if err != nil {
		t.Fatalf("mosquitto_pub of %d readings: %v: %s", len(values), err, out)
	}
}

// pahoPublish publishes values as the demo device's readings of
// measurement over broker (a Paho URL), QoS 1, each acknowledged before
// the next.
func pahoPublish(t *testing.T, broker string, tc *tls.Config, measurement string, values []string) {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("tarpit-honest-device").
		SetUsername(testenv.DemoDevice.User).SetPassword(testenv.DemoDevice.Password).
		SetConnectTimeout(30 * time.Second).SetAutoReconnect(false).SetTLSConfig(tc)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", broker, tok.Error())
	}
	defer c.Disconnect(250)
	topic := "devices/demo-device/sensors/" + measurement
	for i, v := range values {
		if tok := c.Publish(topic, 1, false, v); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
			t.Fatalf("publish %d of %d to %s: not acknowledged: %v", i+1, len(values), broker, tok.Error())
		}
	}
}

// checkStoredOnce checks that InfluxDB holds want points of measurement,
// each value once: none lost, none stored twice.
func checkStoredOnce(t *testing.T, in *testenv.Influx, measurement string, want int) {
	t.Helper()
	counts := in.Query(t, fmt.Sprintf(`SELECT count("value"), count(distinct("value")) FROM %q`, measurement))
	var points, distinct string
	if len(counts) > 0 && len(counts[0].Values) > 0 {
		points, distinct = fmt.Sprint(counts[0].Values[0][1]), fmt.Sprint(counts[0].Values[0][2])
	}
	if points != strconv.Itoa(want) || distinct != strconv.Itoa(want) {
		t.Errorf("InfluxDB: %s points, %s distinct values of %s; want %d readings, each once", points, distinct, measurement, want)
	}
}
