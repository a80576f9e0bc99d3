package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/internal/testenv"
)

// The broker's numbers in /v1/pipeline and /healthz are its Stats, the
// same ones /metrics shows: no view finds a number by a metric's name.
func TestBrokerViewIsItsStats(t *testing.T) {
	srv, mqtt, httpAddr := startMemServer(t)
	sub := testenv.Subscribe(t, mqtt, testenv.DemoReader, "devices/#", "-q", "1")
	defer sub.Stop()
	testenv.WaitFor(t, 30*time.Second, "the reader's subscription", func() bool { return srv.broker.Stats().Subscriptions >= 1 })
	for _, v := range []string{"21.5", "22.5", "23.5"} {
		if out, err := testenv.Pub(t, mqtt, testenv.DemoGateway, "devices/view-dev/sensors/temperature", v, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	sub.WaitLines(t, 3, 30*time.Second)
	// The publishers are gone and the subscriber has its three: the
	// numbers stand still while the views are read.
	testenv.WaitFor(t, 30*time.Second, "the publishers to disconnect and the deliveries to be acknowledged", func() bool {
		st := srv.broker.Stats()
		return st.ClientsConnected == 1 && st.Inflight == 0
	})

	var pipe struct {
		MQTT *mqttView `json:"mqtt"`
	}
	getJSON(t, "http://"+httpAddr+"/v1/pipeline", &pipe)
	st := srv.broker.Stats()
	if pipe.MQTT == nil {
		t.Fatal("/v1/pipeline has no mqtt")
	}
	if want := *newMQTTView(st); !sameMQTTView(*pipe.MQTT, want) {
		t.Errorf("/v1/pipeline mqtt = %+v\nbroker.Stats  = %+v", *pipe.MQTT, want)
	}
	if st.MessagesReceived < 3 || st.MessagesSent < 3 || st.Subscriptions < 1 {
		t.Errorf("broker.Stats = %+v, want at least 3 received, 3 sent, 1 subscription", st)
	}
	var health struct {
		MQTT mqttH `json:"mqtt"`
	}
	getJSON(t, "http://"+httpAddr+"/healthz", &health)
	if health.MQTT.ClientsConnected != st.ClientsConnected {
		t.Errorf("/healthz clients_connected = %d, broker.Stats %d", health.MQTT.ClientsConnected, st.ClientsConnected)
	}
	metrics := getText(t, "http://"+httpAddr+"/metrics")
	for _, line := range brokerMetricLines(st) {
		if !strings.Contains(metrics, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

func brokerMetricLines(st broker.Stats) []string {
	lines := []string{
		fmt.Sprintf("mqflux_mqtt_clients_connected %d", st.ClientsConnected),
		fmt.Sprintf("mqflux_mqtt_subscriptions %d", st.Subscriptions),
		fmt.Sprintf("mqflux_mqtt_messages_received_total %d", st.MessagesReceived),
		fmt.Sprintf("mqflux_mqtt_messages_sent_total %d", st.MessagesSent),
		fmt.Sprintf("mqflux_mqtt_retained_messages %d", st.Retained),
	}
	for reason, n := range st.Dropped {
		lines = append(lines, fmt.Sprintf("mqflux_mqtt_messages_dropped_total{reason=%q} %d", reason, n))
	}
	return lines
}

func sameMQTTView(a, b mqttView) bool {
	same := func(x, y map[string]int64) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if y[k] != v {
				return false
			}
		}
		return true
	}
	return a.ClientsConnected == b.ClientsConnected && a.Subscriptions == b.Subscriptions &&
		a.MessagesReceived == b.MessagesReceived && a.MessagesSent == b.MessagesSent && a.Inflight == b.Inflight &&
		a.Retained == b.Retained && a.RetainedBytes == b.RetainedBytes &&
		same(a.Dropped, b.Dropped) && same(a.PublishRefused, b.PublishRefused)
}
