package broker

import (
	"testing"

	"github.com/mqflux/mqflux/passwd"
	"github.com/mqflux/mqflux/topic"
)

func layoutOf(templates ...string) roles {
	var r roles
	for _, s := range templates {
		r.layout = append(r.layout, topic.MustParse(s))
	}
	return r
}

func TestRoleTable(t *testing.T) {
	def := layoutOf(topic.DefaultReadings, topic.DefaultStatus)
	site := layoutOf("site/{device}/{measurement}", "site/{device}/status")
	z2m := layoutOf("zigbee2mqtt/{device+}/availability", "zigbee2mqtt/{device+}")
	ha := layoutOf(topic.DefaultReadings, topic.DefaultStatus, topic.DefaultDiscovery)
	alerts := def
	alerts.readable = []string{"alerts"}
	dev := User{Name: "pi-1", Role: RoleDevice}
	gw := User{Name: "gw", Role: RoleGateway}
	rd := User{Name: "rd", Role: RoleReader}
	adm := User{Name: "adm", Role: RoleAdmin}
	cases := []struct {
		name   string
		roles  roles
		user   User
		topic  string
		write  bool
		wanted bool
	}{
		{"device publishes its reading", def, dev, "devices/pi-1/sensors/t", true, true},
		{"device publishes its status", def, dev, "devices/pi-1/status", true, true},
		{"device publishes as another", def, dev, "devices/pi-2/sensors/t", true, false},
		{"device publishes in its own subtree", def, dev, "devices/pi-1/config/interval", true, true},
		{"device publishes in another's subtree", def, dev, "devices/pi-2/config/interval", true, false},
		{"device publishes its level only", def, dev, "devices/pi-1", true, false},
		{"device publishes off the layout", def, dev, "other/pi-1/x", true, false},
		{"device subscribes to its subtree", def, dev, "devices/pi-1/commands/#", false, true},
		{"device subscribes to its status", def, dev, "devices/pi-1/status", false, true},
		{"device subscribes to its level only", def, dev, "devices/pi-1", false, false},
		{"device subscribes to another's", def, dev, "devices/pi-2/#", false, false},
		{"device subscribes with + before its level", def, dev, "devices/+/status", false, false},
		{"device subscribes to everything", def, dev, "#", false, false},
		{"gateway publishes for any device", def, gw, "devices/pi-9/sensors/t", true, true},
		{"gateway publishes in a device's subtree", def, gw, "devices/pi-9/config/interval", true, true},
		{"gateway publishes with + for a device", def, gw, "devices/+/config/interval", true, false},
		{"gateway publishes off the layout", def, gw, "other/topic", true, false},
		{"gateway subscribes", def, gw, "devices/#", false, false},
		{"reader subscribes to devices/#", def, rd, "devices/#", false, true},
		{"reader subscribes to readings", def, rd, "devices/+/sensors/#", false, true},
		{"reader subscribes to a template filter", def, rd, "devices/+/sensors/+", false, true},
		{"reader subscribes to one status", def, rd, "devices/pi-1/status", false, true},
		{"reader reads a device's subtree", def, rd, "devices/pi-1/config/interval", false, true},
		{"reader subscribes to everything", def, rd, "#", false, false},
		{"reader subscribes to the alerts", alerts, rd, "alerts/#", false, true},
		{"reader subscribes to one device's alerts", alerts, rd, "alerts/pi-1/+", false, true},
		{"reader subscribes to a prefix's sibling", alerts, rd, "alertsx/#", false, false},
		{"device publishes an alert", alerts, dev, "alerts/pi-1/silent", true, false},
		{"reader subscribes off the layout", def, rd, "other/#", false, false},
		{"reader subscribes to $SYS", def, rd, "$SYS/#", false, false},
		{"reader publishes", def, rd, "devices/rd/sensors/t", true, false},
		{"admin does anything", def, adm, "$SYS/#", false, true},
		{"device publishes in another layout", site, dev, "site/pi-1/temperature", true, true},
		{"device publishes as another in another layout", site, dev, "site/pi-2/temperature", true, false},
		{"device publishes the old layout", site, dev, "devices/pi-1/sensors/t", true, false},
		{"reader subscribes to another layout", site, rd, "site/#", false, true},
		{"reader subscribes to the old layout", site, rd, "devices/#", false, false},
		{"gateway publishes in another layout", site, gw, "site/x/y", true, true},
		{"unknown role", def, User{Name: "x", Role: "visitor"}, "devices/x/sensors/t", true, false},
		// Preset layouts: a multi-level capture, and discovery configs.
		{"gateway publishes a friendly name with /", z2m, gw, "zigbee2mqtt/living room/lamp", true, true},
		{"gateway publishes availability under a friendly name with /", z2m, gw, "zigbee2mqtt/hall/motion/availability", true, true},
		{"device publishes as the friendly name it is", z2m, User{Name: "lamp", Role: RoleDevice}, "zigbee2mqtt/lamp", true, true},
		{"device publishes under another friendly name", z2m, User{Name: "lamp", Role: RoleDevice}, "zigbee2mqtt/lamp/x", true, false},
		{"reader subscribes to availability of all", z2m, rd, "zigbee2mqtt/+/availability", false, true},
		{"device publishes its discovery config", ha, dev, "homeassistant/sensor/pi-1/temperature/config", true, true},
		{"device publishes another's discovery config", ha, dev, "homeassistant/sensor/pi-2/temperature/config", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.roles.allowed(tc.user, tc.topic, tc.write); got != tc.wanted {
				t.Fatalf("%s (%s) write=%v on %q: allowed=%v, want %v", tc.user.Name, tc.user.Role, tc.write, tc.topic, got, tc.wanted)
			}
		})
	}
}

// A device whose name is a literal level of one template, with another
// template capturing {device} at that level, matches the more specific,
// literal, template: never as its own topic.
func TestLiteralLevelBeatsDeviceCapture(t *testing.T) {
	esphome := layoutOf(topic.DefaultReadings, topic.DefaultStatus,
		"{device}/+/+/command", "{device}/{measurement}/{field}/state", "{device}/status", "{device}/status/{component}")
	devices := User{Name: "devices", Role: RoleDevice}
	status := User{Name: "status", Role: RoleDevice}
	dev := User{Name: "pi-1", Role: RoleDevice}
	cases := []struct {
		user   User
		topic  string
		write  bool
		wanted bool
	}{
		{devices, "devices/pi-2/sensors/temperature", true, false},
		{devices, "devices/pi-2/status", true, false},
		{devices, "devices/status", true, false},
		{devices, "devices/temperature/value/state", true, false},
		{devices, "devices/#", false, false},
		{devices, "devices/pi-2/status", false, false},
		{status, "pi-1/status/status", true, false},
		{dev, "pi-1/status", true, true},
		{dev, "pi-1/temperature/value/state", true, true},
		{dev, "devices/pi-1/sensors/temperature", true, true},
		{dev, "pi-1/status/switch", true, true},
		{dev, "pi-1/#", false, true},
	}
	for _, tc := range cases {
		if got := esphome.allowed(tc.user, tc.topic, tc.write); got != tc.wanted {
			t.Errorf("%s, %q, write %v: allowed %v, want %v", tc.user.Name, tc.topic, tc.write, got, tc.wanted)
		}
	}
}

func TestCutLevels(t *testing.T) {
	cases := []struct {
		filter     string
		n          int
		head, rest string
		ok         bool
	}{
		{"devices/pi-1/commands/#", 2, "devices/pi-1", "commands/#", true},
		{"devices/pi-1", 2, "devices/pi-1", "", true},
		{"devices", 2, "", "", false},
		{"a/b", 0, "", "", false},
	}
	for _, tc := range cases {
		head, rest, ok := cutLevels(tc.filter, tc.n)
		if head != tc.head || rest != tc.rest || ok != tc.ok {
			t.Errorf("cutLevels(%q, %d) = %q, %q, %v; want %q, %q, %v", tc.filter, tc.n, head, rest, ok, tc.head, tc.rest, tc.ok)
		}
	}
}

// A will is held to its user's publish ACL, and to the names the broker
// routes at all.
func TestMayPublishWill(t *testing.T) {
	h := &authHook{roles: layoutOf(topic.DefaultReadings, topic.DefaultStatus)}
	dev := User{Name: "pi-1", Role: RoleDevice}
	adm := User{Name: "adm", Role: RoleAdmin}
	cases := []struct {
		user  User
		topic string
		want  bool
	}{
		{dev, "devices/pi-1/status", true},
		{dev, "devices/pi-2/status", false},
		{dev, "devices/pi-2/sensors/t", false},
		{dev, "$SYS/broker/uptime", false},
		{adm, "devices/pi-2/status", true},
		{adm, "$SYS/broker/uptime", false},
		{adm, "devices/+/status", false},
	}
	for _, tc := range cases {
		if got := h.mayPublish(tc.user, tc.topic); got != tc.want {
			t.Errorf("%s (%s) will on %q: %v, want %v", tc.user.Name, tc.user.Role, tc.topic, got, tc.want)
		}
	}
}

// Each refused login has its own reason label; mochi's CONNACK is the same
// for all of them.
func TestConnectRefusal(t *testing.T) {
	for r, want := range map[passwd.Result]string{
		passwd.NoUser: "no_username", passwd.Backoff: "backoff", passwd.Busy: "busy",
		passwd.Unknown: "unknown_user", passwd.BadSecret: "bad_password",
	} {
		if got, _ := connectRefusal(r); got != want {
			t.Errorf("%s: reason %q, want %q", r, got, want)
		}
	}
}
