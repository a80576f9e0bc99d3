package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A device publishing over the WebSocket listener (a browser or a
// firewall-friendly client) reaches a reader on plain TCP.
func TestWebSocketListener(t *testing.T) {
	wsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_BROKER_WEBSOCKET=" + wsAddr}})
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-reader")

	opts := mqtt.NewClientOptions().AddBroker("ws://" + wsAddr + "/").SetClientID("ws-device").
		SetUsername(testenv.DemoDevice.User).SetPassword(testenv.DemoDevice.Password).
		SetConnectTimeout(10 * time.Second)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect over WebSocket: %v", tok.Error())
	}
	defer c.Disconnect(100)
	topic := "devices/demo-device/sensors/temperature"
	if tok := c.Publish(topic, 1, false, "18.25"); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish over WebSocket: %v", tok.Error())
	}
	if lines := sub.WaitLines(t, 1, 30*time.Second); !slices.Contains(lines, topic+" 18.25") {
		t.Errorf("reader got %q", lines)
	}
}
