package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// CONNACK codes of a refused CONNECT, by protocol version.
var (
	notAuthorized      = map[byte]byte{4: 0x05, 5: 0x87}
	identifierRejected = map[byte]byte{4: 0x02, 5: 0x85}
)

// Attack 2: a Last Will is a publish the broker makes later on its
// client's behalf, so it must pass that user's publish ACL; one that does
// not is refused at CONNECT with "not authorized", logged and counted, and
// never delivered or retained.
func TestWillMustPassTheACL(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	spy := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, "#", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-admin")

	cases := []struct {
		name  string
		login testenv.Login
		topic string
	}{
		{"another device's status", testenv.DemoDevice, "devices/other-device/status"},
		{"another device's readings", testenv.DemoDevice, "devices/other-device/sensors/temperature"},
		{"$SYS by a device", testenv.DemoDevice, "$SYS/broker/uptime"},
		{"a reader, who may not publish", testenv.DemoReader, "devices/demo-reader/status"},
		{"$SYS by an admin, a topic nobody may publish to", testenv.DemoAdmin, "$SYS/broker/clients/connected"},
	}
	refused := 0
	for _, tc := range cases {
		for _, version := range []byte{4, 5} {
			t.Run(fmt.Sprintf("%s MQTT %d", tc.name, version), func(t *testing.T) {
				rc := rawConnect{version: version, clientID: fmt.Sprintf("will-%d-%d", refused, version),
					user: tc.login.User, password: tc.login.Password,
					willTopic: tc.topic, willMsg: "offline", willRetain: true}
				code, c := rc.dial(t, srv.MQTT)
				c.drop() // were the will accepted, this would publish it
				if code != notAuthorized[version] {
					t.Fatalf("CONNACK %#x, want %#x (not authorized)", code, notAuthorized[version])
				}
				srv.WaitLog(t, "last will refused", "user="+tc.login.User, "topic="+tc.topic, "reason=will_acl")
			})
			refused++
		}
	}

	// The real client sees the refusal too.
	out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/sensors/t", "1", "-q", "1",
		"--will-topic", "devices/other-device/status", "--will-payload", "offline", "--will-retain", "--will-qos", "1")
	if err == nil || !strings.Contains(out, "not authorised") {
		t.Errorf("mosquitto_pub with another device's will: %v %q, want a not-authorised refusal", err, out)
	}
	refused++

	// A will the user may publish is accepted and sent as before.
	code, c := rawConnect{version: 4, clientID: "own-will", user: testenv.DemoDevice.User, password: testenv.DemoDevice.Password,
		willTopic: "devices/demo-device/status", willMsg: "offline", willRetain: true}.dial(t, srv.MQTT)
	if code != 0 {
		t.Fatalf("a device's will on its own status: CONNACK %#x, want accepted", code)
	}
	c.drop()
	waitFor(t, 30*time.Second, "the allowed will delivered", func() bool {
		return slices.Contains(spy.Lines(), "devices/demo-device/status offline")
	})
	for _, l := range spy.Lines() {
		if !strings.HasPrefix(l, "$SYS") && l != "devices/demo-device/status offline" {
			t.Errorf("a refused will was delivered: %q", l)
		}
	}
	_, metrics := srv.HTTPGet(t, "/metrics")
	if got := metricValue(t, metrics, `mqflux_mqtt_denied_total{reason="will_acl",what="connect"}`); got != float64(refused) {
		t.Errorf("denied wills counted %v, want %d", got, refused)
	}

	// Nothing refused was retained, before or after a restart: a fresh
	// subscriber sees only the allowed will among the retained statuses.
	srv.Stop(t)
	srv.Start(t)
	fresh := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, "devices/#", "-q", "1", "--retained-only", "-W", "10")
	fresh.Wait(30 * time.Second)
	if got := fresh.Lines(); !slices.Equal(got, []string{"devices/demo-device/status offline"}) {
		t.Errorf("retained after a restart: %q, want only the allowed will", got)
	}
}

// Attack 3: a client id belongs to the user whose session it names. Another
// user presenting it is refused ("identifier rejected"), logged and
// counted; it neither reads the session's queued messages nor ends it, even
// after a restart. The same user taking its id over keeps MQTT's meaning.
func TestClientIDBelongsToItsUser(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	const readerID = "reader-session"
	first := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/+/sensors/#", "-q", "1", "-c", "-i", readerID, "-E")
	if err, stderr := first.Wait(30 * time.Second); err != nil {
		t.Fatalf("creating the reader's persistent session: %v %s", err, stderr)
	}
	queued := "devices/demo-device/sensors/humidity"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, queued, "40.5", "-q", "1"); err != nil {
		t.Fatalf("publish: %v %s", err, out)
	}

	tryReaderID := func(t *testing.T) {
		for _, version := range []byte{4, 5} {
			for _, persistent := range []bool{true, false} {
				rc := rawConnect{version: version, clientID: readerID, user: testenv.DemoDevice.User,
					password: testenv.DemoDevice.Password, persistent: persistent}
				code, c := rc.dial(t, srv.MQTT)
				if code != identifierRejected[version] {
					c.closed(5 * time.Second) // whatever it was sent
					t.Fatalf("MQTT %d, persistent %v: a device presenting the reader's client id got CONNACK %#x, want %#x",
						version, persistent, code, identifierRejected[version])
				}
			}
		}
		srv.WaitLog(t, "client id refused", "user=demo-device", "client_id="+readerID, "owner=demo-reader")
	}
	tryReaderID(t)
	out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/sensors/t", "1", "-q", "1", "-i", readerID)
	if err == nil || !strings.Contains(out, "identifier rejected") {
		t.Errorf("mosquitto_pub with the reader's client id: %v %q, want an identifier-rejected refusal", err, out)
	}
	_, metrics := srv.HTTPGet(t, "/metrics")
	if got := metricValue(t, metrics, `mqflux_mqtt_denied_total{reason="client_id_owner",what="connect"}`); got != 5 {
		t.Errorf("refused client ids counted %v, want 5", got)
	}

	// The owner survives a restart with the session.
	srv.Stop(t)
	srv.Start(t)
	tryReaderID(t)
	_, metrics = srv.HTTPGet(t, "/metrics")
	if got := metricValue(t, metrics, `mqflux_mqtt_denied_total{reason="client_id_owner",what="connect"}`); got != 4 {
		t.Errorf("after the restart, refused client ids counted %v, want 4", got)
	}
	again := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/+/sensors/#", "-q", "1", "-c", "-i", readerID, "-C", "1")
	if got := again.WaitLines(t, 1, 30*time.Second); got[0] != queued+" 40.5" {
		t.Errorf("the reader's session after the attempts: %q, want %q", got[0], queued+" 40.5")
	}

	// A connected device cannot be kicked off by another user reusing its
	// client id, which would also fire its offline will.
	const deviceID = "mqflux-device-demo-device"
	spy := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, "devices/demo-device/status", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-admin")
	dev := rawConnect{version: 4, clientID: deviceID, user: testenv.DemoDevice.User, password: testenv.DemoDevice.Password,
		willTopic: "devices/demo-device/status", willMsg: "offline"}
	code, device := dev.dial(t, srv.MQTT)
	if code != 0 {
		t.Fatalf("the device's own CONNECT: %#x", code)
	}
	code, _ = rawConnect{version: 4, clientID: deviceID, user: testenv.DemoGateway.User, password: testenv.DemoGateway.Password}.dial(t, srv.MQTT)
	if code != identifierRejected[4] {
		t.Errorf("the gateway presenting the device's client id: CONNACK %#x, want %#x", code, identifierRejected[4])
	}
	if rc, err := device.publish(t, 1, "devices/demo-device/sensors/t", []byte("1"), false, 30*time.Second); err != nil || rc != 0 {
		t.Fatalf("the device after another user presented its client id: PUBACK %#x, %v; want it still connected", rc, err)
	}
	if l := spy.Lines(); len(l) != 0 {
		t.Errorf("the device's will fired: %q", l)
	}

	// The same user taking its own id over: accepted, the older connection
	// is closed and its will sent, as MQTT says.
	code, _ = dev.dial(t, srv.MQTT)
	if code != 0 {
		t.Fatalf("the device reconnecting under its own client id: CONNACK %#x, want accepted", code)
	}
	if !device.closed(30 * time.Second) {
		t.Errorf("the older connection is still open after a takeover by its own user")
	}
	if got := spy.WaitLines(t, 1, 30*time.Second); got[0] != "devices/demo-device/status offline" {
		t.Errorf("after the takeover: %q, want the older connection's will", got)
	}
}

// A device's own Last Will becomes a device_status point, as the README
// promises: the will reaches the pipeline as its PUBLISH would.
func TestOwnWillBecomesDeviceStatus(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	code, c := rawConnect{version: 4, clientID: "mqflux-device-will-device", user: testenv.DemoGateway.User,
		password: testenv.DemoGateway.Password, willTopic: "devices/will-device/status", willMsg: "offline", willRetain: true}.dial(t, srv.MQTT)
	if code != 0 {
		t.Fatalf("CONNECT with a will on an allowed topic: %#x", code)
	}
	code, d := rawConnect{version: 5, clientID: "mqflux-device-demo-device", user: testenv.DemoDevice.User,
		password: testenv.DemoDevice.Password, willTopic: "devices/demo-device/status", willMsg: "offline"}.dial(t, srv.MQTT)
	if code != 0 {
		t.Fatalf("CONNECT with a will on an allowed topic: %#x", code)
	}
	c.drop()
	d.drop()
	for _, device := range []string{"will-device", "demo-device"} {
		q := fmt.Sprintf(`SELECT "state", "online" FROM "device_status" WHERE "device" = '%s'`, device)
		waitFor(t, time.Minute, device+"'s offline point", func() bool {
			ss, err := in.TryQuery(t.Context(), q)
			if err != nil || len(ss) == 0 {
				return false
			}
			rows := ss[0].Rows()
			return len(rows) == 1 && rows[0]["state"] == "offline" && rows[0]["online"] == false
		})
	}
}

// A QoS 1 publish to $SYS/... by a non-admin is answered as any denied
// publish: logged and counted, MQTT 5 gets PUBACK "not authorized", 3.1.1
// has its connection closed. It used to wait for a PUBACK for ever.
func TestReservedTopicPublishAnswered(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	const sys = "$SYS/broker/load/bytes/received"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, sys, "1", "-q", "1"); err == nil {
		t.Errorf("mosquitto_pub to %s succeeded: %q", sys, out)
	}
	srv.WaitLog(t, "publish denied by role", "user=demo-device", "topic="+sys)

	for _, version := range []byte{4, 5} {
		code, c := rawConnect{version: version, clientID: fmt.Sprintf("sys-%d", version), user: testenv.DemoDevice.User,
			password: testenv.DemoDevice.Password}.dial(t, srv.MQTT)
		if code != 0 {
			t.Fatalf("CONNECT: %#x", code)
		}
		rc, err := c.publish(t, 1, sys, []byte("1"), false, 30*time.Second)
		switch {
		case version == 5 && (err != nil || rc != notAuthorized[5]):
			t.Errorf("MQTT 5 publish to %s: PUBACK %#x, %v; want %#x (not authorized)", sys, rc, err, notAuthorized[5])
		case version == 4 && err != errClosed:
			t.Errorf("MQTT 3.1.1 publish to %s: PUBACK %#x, %v; want the connection closed", sys, rc, err)
		}
	}
	_, metrics := srv.HTTPGet(t, "/metrics")
	if got := metricValue(t, metrics, `mqflux_mqtt_denied_total{reason="acl",what="publish"}`); got != 3 {
		t.Errorf("denied publishes counted %v, want 3", got)
	}
}
