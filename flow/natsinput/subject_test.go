package natsinput

import "testing"

func TestTopicSubjectMapping(t *testing.T) {
	for _, tc := range []struct{ topic, subject string }{
		{"devices/pi-1/sensors/temperature", "devices.pi-1.sensors.temperature"},
		{"devices/pi.1/sensors/t", "devices.pi//1.sensors.t"},
		{"devices/pi-1/sensors/temp.c", "devices.pi-1.sensors.temp//c"},
		{"/devices/a", "/.devices.a"},
		{"devices/a/", "devices.a./"},
		{"devices//a", "devices./.a"},
		{"a.b", "a//b"},
		{"plain", "plain"},
		{"a/./b", "a.//.b"},
	} {
		got, err := TopicToSubject(tc.topic)
		if err != nil || got != tc.subject {
			t.Errorf("TopicToSubject(%q) = %q, %v; want %q", tc.topic, got, err, tc.subject)
		}
		if back := SubjectToTopic(tc.subject); back != tc.topic {
			t.Errorf("SubjectToTopic(%q) = %q; want %q", tc.subject, back, tc.topic)
		}
	}
}

func TestTopicToSubjectRefuses(t *testing.T) {
	for _, topic := range []string{"devices/a b", "devices/a\tb", "devices/+/x", "devices/#", "a\x7f"} {
		if s, err := TopicToSubject(topic); err == nil {
			t.Errorf("TopicToSubject(%q) = %q, want an error", topic, s)
		}
	}
}
