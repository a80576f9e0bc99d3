package mapping

import "testing"

func benchAppend(b *testing.B, topic, payload string) {
	m := mustNew(b, testConfig())
	p := []byte(payload)
	dst := make([]byte, 0, 4096)
	rx := receivedAt()
	if _, err := m.Append(dst, topic, p, rx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := m.Append(dst[:0], topic, p, rx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendNumber(b *testing.B) {
	benchAppend(b, "devices/pi-1/sensors/temperature", "21.5")
}

func BenchmarkAppendJSON(b *testing.B) {
	benchAppend(b, "devices/pi-1/sensors/temperature", `{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`)
}

func BenchmarkAppendJSONMulti(b *testing.B) {
	benchAppend(b, "devices/pi-1/sensors/env",
		`{"temperature": 21.5, "humidity": 40.1, "pressure": 1013.25, "door": false, "note": "ok", "time": 1795456800}`)
}

func BenchmarkAppendLine(b *testing.B) {
	benchAppend(b, "devices/pi-1/line", "env,room=kitchen temperature=21.5,humidity=40.1,count=7i 1795456800")
}
