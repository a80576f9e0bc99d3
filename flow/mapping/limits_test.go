package mapping

import (
	"runtime"
	"strings"
	"testing"
)

// deepPayload is {"a":{"a":...{"a":1}...}} nested n deep.
func deepPayload(n int) []byte {
	return []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
}

func TestDepthAndKeyLimits(t *testing.T) {
	m := mustNew(t, presetsConfig())
	cfg := presetsConfig()
	cfg.MaxKeyBytes = 16
	short := mustNew(t, cfg)
	tests := []struct {
		name, topic, payload string
		reason, detail       string
	}{
		{"deep object, flattened", "zigbee2mqtt/dev1", string(deepPayload(10000)), "too_deep", "byte 80: nesting deeper than max_depth (16)"},
		{"deep object, refused", "devices/dev1/sensors/m", string(deepPayload(10000)), "too_deep", "byte 80: nesting deeper than max_depth (16)"},
		{"deep array, indexed", "zigbee2mqtt/dev1", `{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
			"too_deep", "byte 20: nesting deeper than max_depth (16)"},
		{"deep and broken", "zigbee2mqtt/dev1", string(deepPayload(40)[:220]), "too_deep", "byte 80:"},
		{"flattened key too long", "zigbee2mqtt/dev1", `{"abcdefgh":{"ijklmnop":1}}`,
			"key_too_long", `byte 13: field name "abcdefgh"... joined with "ijklmnop" is 17 bytes, max_key_bytes is 16`},
		{"indexed key too long", "zigbee2mqtt/dev1", `{"abcdefghijklmno":[1]}`, "key_too_long", "is 17 bytes"},
		{"plain key too long", "devices/dev1/sensors/m", `{"abcdefghijklmnopq":1}`,
			"key_too_long", "field name at byte 1 is 17 bytes"},
		{"tag key too long", "devices/dev1/sensors/m", `{"v":1,"tags":{"abcdefghijklmnopq":"x"}}`, "key_too_long", "tag name is 17 bytes"},
		{"line key too long", "devices/dev1/line", `m abcdefghijklmnopq=1`, "key_too_long", "field name is 17 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mm := m
			if tt.reason == "key_too_long" {
				mm = short
			}
			_, rej := appendChecked(t, mm, tt.topic, []byte(tt.payload), receivedAt())
			if rej == nil || rej.Reason != tt.reason || !strings.Contains(rej.Detail, tt.detail) {
				t.Fatalf("got %v; want %s containing %q", rej, tt.reason, tt.detail)
			}
		})
	}
	// At the limits a reading is taken.
	out, rej := appendChecked(t, m, "zigbee2mqtt/dev1", []byte(`{"a":{"b":`+string(deepPayload(14))+`}}`), receivedAt())
	if rej != nil || !strings.Contains(string(out), " a_b"+strings.Repeat("_a", 14)+"=1 ") {
		t.Fatalf("16 deep: %q, %v", out, rej)
	}
	out, rej = appendChecked(t, short, "zigbee2mqtt/dev1", []byte(`{"abcdefg":{"ijklmnop":1}}`), receivedAt())
	if rej != nil || !strings.Contains(string(out), " abcdefg_ijklmnop=1 ") {
		t.Fatalf("a 16-byte name: %q, %v", out, rej)
	}
}

// allocated is the bytes the heap grew by while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// FuzzAppendBounded holds the templates that flatten, index and make
// points of nested values to a memory bound: what one reading allocates
// grows at most linearly with its payload, however deep or wide it nests
// (a flattened name joined from its parents' at every level would grow
// with the square of the depth).
func FuzzAppendBounded(f *testing.F) {
	for _, s := range []string{
		string(deepPayload(10000)), string(deepPayload(16)), string(deepPayload(17)),
		`{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
		`{"` + strings.Repeat("k", 200) + `":{` + strings.Repeat(`"b":{},`, 2000) + `"c":1}}`,
		`{"a":{"b":[[1,2],[3]],"c":{"d":"x"}},"e":null}`,
	} {
		f.Add([]byte(s))
	}
	m := mustNew(f, presetsConfig())
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, name := range []string{"zigbee2mqtt/dev1", "tele/dev1/SENSOR", "devices/dev1/sensors/m"} {
			var rej error
			dst := make([]byte, 0, 4096)
			m.Append(dst, name, payload, receivedAt()) // the scratch grows once
			n := allocated(func() { _, rej = m.Append(dst, name, payload, receivedAt()) })
			// The scratch may be new (the pool may drop it): its initial
			// buffers, a copy of every string and name, a message.
			if limit := 64<<10 + 8*uint64(len(payload)); n > limit {
				t.Fatalf("%s: %d bytes allocated for a %d-byte payload (limit %d); %v", name, n, len(payload), limit, rej)
			}
		}
	})
}

// BenchmarkAppendDeep is the payload a device can send to make a mapping
// that flattens work hardest per byte: 60 KB nested 10,000 deep.
func BenchmarkAppendDeep(b *testing.B) {
	m := mustNew(b, presetsConfig())
	p := deepPayload(10000)
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := m.Append(dst[:0], "zigbee2mqtt/dev1", p, receivedAt()); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkAppendNestedWide flattens many members under a long name.
func BenchmarkAppendNestedWide(b *testing.B) {
	cfg := presetsConfig()
	cfg.MaxFields = 100000
	m := mustNew(b, cfg)
	p := []byte(`{"` + strings.Repeat("k", 200) + `":{` + strings.Repeat(`"b":{},`, 8000) + `"c":1}}`)
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := m.Append(dst[:0], "zigbee2mqtt/dev1", p, receivedAt()); err != nil {
			b.Fatal(err)
		}
	}
}
