package natsinput

import (
	"strings"
	"testing"

	"github.com/mqflux/mqflux/topic"
)

func TestAuthBlockRights(t *testing.T) {
	layout := []topic.Template{
		topic.MustParse("devices/{device}/sensors/{measurement}"),
		topic.MustParse("devices/{device}/status"),
		topic.MustParse("site/{site}/{device}/#"),
	}
	for _, tc := range []struct {
		user      User
		want, not []string
	}{
		{User{"pi.1", "$2a$10$x", "device"},
			[]string{`publish: {allow: ["devices.pi//1.>", "devices.pi//1.sensors.*", "devices.pi//1.status", "site.*.pi//1.>"]}`, `subscribe: {allow: ["$MQTT.sub.>", "devices.pi//1.>", "site.*.pi//1.>"]}`},
			[]string{"devices.*"}},
		{User{"gw", "$2a$10$y", "gateway"},
			[]string{`publish: {allow: ["devices.*.sensors.*", "devices.*.status", "site.*.*.>"]}`, `subscribe: {deny: [">"]}`}, nil},
		{User{"r", "$2a$10$z", "reader"},
			[]string{`publish: {deny: [">"]}`, `"devices.>"`, `"site.>"`, `"$MQTT.sub.>"`}, nil},
		{User{"root", "$2a$10$w", "admin"}, []string{`{user: "root", password: "$2a$10$w"}`}, []string{"permissions"}},
	} {
		got, err := AuthBlock([]User{tc.user}, layout)
		if err != nil {
			t.Fatalf("%s: %v", tc.user.Name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: block lacks %s:\n%s", tc.user.Name, w, got)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: block holds %s:\n%s", tc.user.Name, n, got)
			}
		}
	}
	if _, err := AuthBlock([]User{{"x", "h", "device"}}, []topic.Template{topic.MustParse("a/{path+}/{device}")}); err == nil {
		t.Error("a multi-level capture before the last level: no error")
	}
	if _, err := AuthBlock([]User{{"a b", "h", "device"}}, layout); err == nil {
		t.Error("a device name with a space: no error")
	}
}
