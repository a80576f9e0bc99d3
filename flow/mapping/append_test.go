package mapping

import (
	"strings"
	"testing"
)

func TestAppendGood(t *testing.T) {
	m := mustNew(t, testConfig())
	const temp = "devices/pi-1/sensors/temp"
	cases := []struct {
		name, topic, payload, want string
	}{
		{"bare number", temp, "21.5", "temp,device=pi-1 value=21.5 " + rxNanos + "\n"},
		{"bare number with whitespace", temp, " \t-3\r\n", "temp,device=pi-1 value=-3 " + rxNanos + "\n"},
		{"bare number with plus", temp, "+21.5", "temp,device=pi-1 value=21.5 " + rxNanos + "\n"},
		{"bare integer is a float", temp, "21", "temp,device=pi-1 value=21 " + rxNanos + "\n"},
		{"bare exponent", temp, "1E3", "temp,device=pi-1 value=1000 " + rxNanos + "\n"},
		{"bare big exponent", temp, "1e21", "temp,device=pi-1 value=1e+21 " + rxNanos + "\n"},
		{"bare underflow is zero", temp, "1e-400", "temp,device=pi-1 value=0 " + rxNanos + "\n"},
		{"bare negative zero", temp, "-0", "temp,device=pi-1 value=-0 " + rxNanos + "\n"},
		{"json one value with RFC 3339 time", temp, `{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`,
			"temp,device=pi-1 value=21.5 1795456800123000000\n"},
		{"json time with offset", temp, `{"value": 1, "time": "2026-11-23T19:00:00+01:00"}`,
			"temp,device=pi-1 value=1 1795456800000000000\n"},
		{"json time with nanoseconds", temp, `{"value": 1, "time": "2026-11-23T18:00:00.123456789Z"}`,
			"temp,device=pi-1 value=1 1795456800123456789\n"},
		{"json time at the lower bound", temp, `{"value": 1, "time": "1677-09-21T00:12:43.145224194Z"}`,
			"temp,device=pi-1 value=1 -9223372036854775806\n"},
		{"json time at the upper bound", temp, `{"value": 1, "time": "2262-04-11T23:47:16.854775806Z"}`,
			"temp,device=pi-1 value=1 9223372036854775806\n"},
		{"json epoch at the upper bound", "ns/pi-1/temp", `{"value": 1, "time": 9223372036854775806}`,
			"temp,device=pi-1 value=1 9223372036854775806\n"},
		{"json several fields sorted, types kept", temp,
			`{"temperature": 21.5, "humidity": 40.1, "ok": true, "door": false, "note": "a \"b\" c\\d", "count": 21}`,
			`temp,device=pi-1 count=21,door=false,humidity=40.1,note="a \"b\" c\\d",ok=true,temperature=21.5 ` + rxNanos + "\n"},
		{"json integer epoch in seconds", temp, `{"value": 1, "time": 1700000000}`,
			"temp,device=pi-1 value=1 1700000000000000000\n"},
		{"json decimal epoch in seconds", temp, `{"value": 1, "time": 1700000000.5}`,
			"temp,device=pi-1 value=1 1700000000500000000\n"},
		{"json exponent epoch", temp, `{"value": 1, "time": 1.7e9}`,
			"temp,device=pi-1 value=1 1700000000000000000\n"},
		{"json negative epoch", temp, `{"value": 1, "time": -1.5}`,
			"temp,device=pi-1 value=1 -1500000000\n"},
		{"json sub-nanosecond digits truncate", temp, `{"value": 1, "time": 1.0000000019}`,
			"temp,device=pi-1 value=1 1000000001\n"},
		{"json epoch in milliseconds", "ms/pi-1/temp", `{"value": 1, "time": 1700000000123}`,
			"temp,device=pi-1 value=1 1700000000123000000\n"},
		{"json epoch in microseconds", "us/pi-1/temp", `{"value": 1, "time": 1700000000123456}`,
			"temp,device=pi-1 value=1 1700000000123456000\n"},
		{"json epoch in nanoseconds", "ns/pi-1/temp", `{"value": 1, "time": 1700000000123456789}`,
			"temp,device=pi-1 value=1 1700000000123456789\n"},
		{"explicit fields and tags", temp,
			`{"fields": {"b": 2, "a": "x"}, "tags": {"room": "kitchen 1", "floor": "2"}, "time": 1700000000}`,
			`temp,device=pi-1,floor=2,room=kitchen\ 1 a="x",b=2 1700000000000000000` + "\n"},
		{"flat fields with tags", temp, `{"tags": {"room": "k"}, "v": 1}`,
			"temp,device=pi-1,room=k v=1 " + rxNanos + "\n"},
		{"escaped names", "devices/a=b,c d/sensors/room temp,x", `{"a b,c=d": 1}`,
			`room\ temp\,x,device=a\=b\,c\ d a\ b\,c\=d=1 ` + rxNanos + "\n"},
		{"backslash inside a name", `devices/C:\data/sensors/t`, `{"x\\y": "p\\q"}`,
			`t,device=C:\data x\y="p\\q" ` + rxNanos + "\n"},
		{"unicode escapes and a lone surrogate", temp, `{"s": "\u00e9\ud83d\ude00\ud800x", "\u00fc": 1}`,
			"temp,device=pi-1 s=\"é😀\uFFFDx\",ü=1 " + rxNanos + "\n"},
		{"tab in a string is kept", temp, "{\"s\": \"a\\tb\"}", "temp,device=pi-1 s=\"a\tb\" " + rxNanos + "\n"},
		{"empty string field", temp, `{"s": ""}`, `temp,device=pi-1 s="" ` + rxNanos + "\n"},
		{"{field} and + levels, static tags", "farm/north/x/soil/moisture", "40",
			"soil,site=north,source=farm moisture=40 " + rxNanos + "\n"},
		{"# level and fixed measurement", "legacy/pi-1/a/b/c", "5", "legacy,device=pi-1 value=5 " + rxNanos + "\n"},
		{"# matches the parent level", "legacy/pi-1", "5", "legacy,device=pi-1 value=5 " + rxNanos + "\n"},
		{"line protocol, integer and unsigned kept", "devices/pi-1/line",
			`cpu,host=a usage=5i,idle=1.5,ok=t,msg="hi",n=7u 1700000000`,
			`cpu,device=pi-1,host=a,site=lab idle=1.5,msg="hi",n=7u,ok=true,usage=5i 1700000000000000000` + "\n"},
		{"line protocol without timestamp, comments, blank lines", "devices/pi-1/line",
			"# header\n\ncpu v=1\r\nmem,z=1 v=2 -5\n",
			"cpu,device=pi-1,site=lab v=1 " + rxNanos + "\nmem,device=pi-1,site=lab,z=1 v=2 -5000000000\n"},
		{"line protocol escapes survive", "devices/pi-1/line", `my\ cpu,ta\=g=x\,y f\ 1="q\"\\" 1`,
			`my\ cpu,device=pi-1,site=lab,ta\=g=x\,y f\ 1="q\"\\" 1000000000` + "\n"},
		{"line protocol nanoseconds", "nsline/pi-1", "cpu v=1 1700000000123456789",
			"cpu,device=pi-1 v=1 1700000000123456789\n"},
		{"presence online", "devices/pi-1/status", "online",
			`device_status,device=pi-1 online=true,state="online" ` + rxNanos + "\n"},
		{"presence offline with newline", "devices/pi-1/status", "offline\n",
			`device_status,device=pi-1 online=false,state="offline" ` + rxNanos + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, rej := appendChecked(t, m, tc.topic, []byte(tc.payload), receivedAt())
			if rej != nil {
				t.Fatalf("rejected: %v", rej)
			}
			if string(out) != tc.want {
				t.Fatalf("got  %q\nwant %q", out, tc.want)
			}
			parseLP(t, out)
		})
	}
}

func TestAppendBad(t *testing.T) {
	m := mustNew(t, testConfig())
	const temp = "devices/pi-1/sensors/temp"
	const line = "devices/pi-1/line"
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 65; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"f` + strings.Repeat("x", i) + `": 1`)
	}
	manyFields := b.String() + "}"
	b.Reset()
	b.WriteString(`{"v": 1, "tags": {`)
	for i := 0; i < 32; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"t` + strings.Repeat("x", i) + `": "v"`)
	}
	manyTags := b.String() + "}}"
	cases := []struct {
		name, topic, payload, reason, detail string
	}{
		{"no template matches", "other/pi-1", "1", "topic", `no template matches topic "other/pi-1"`},
		{"empty topic", "", "1", "topic", "empty"},
		{"wildcard in topic", "devices/+/sensors/t", "1", "topic", "wildcards"},
		{"empty captured level", "devices//sensors/temp", "1", "topic", "level 2 ({device}) is empty"},
		{"empty measurement level", "devices/pi-1/sensors/", "1", "topic", "level 4 ({measurement}) is empty"},
		{"control character in a level", "devices/a\x01b/sensors/t", "1", "topic", "control character at byte 1"},
		{"trailing backslash in a level", `devices/a\/sensors/t`, "1", "topic", "ends with a backslash"},
		{"invalid UTF-8 in a level", "devices/a\xffb/sensors/t", "1", "topic", "not valid UTF-8"},
		{"field named time from the topic", "farm/north/x/soil/time", "1", "topic", `"time"`},
		{"empty payload", temp, "", "empty", "empty"},
		{"whitespace payload", temp, " \r\n\t", "empty", "whitespace"},
		{"payload too large", temp, strings.Repeat("1", 65537), "payload_too_large", "65537 bytes, max_payload_bytes is 65536"},
		{"word", temp, "abc", "bad_number", `"abc" at byte 0 is not a number`},
		{"two dots", temp, " 21.5.3", "bad_number", `"21.5.3" at byte 1`},
		{"hex", temp, "0x10", "bad_number", "0x10"},
		{"leading zero", temp, "021", "bad_number", "021"},
		{"trailing dot", temp, "21.", "bad_number", "21."},
		{"quoted number", temp, `"21.5"`, "bad_number", `"\"21.5\""`},
		{"two numbers", temp, "1 2", "bad_number", `"1 2"`},
		{"NaN", temp, "NaN", "nan_inf", "not a finite number"},
		{"+Inf", temp, "+Inf", "nan_inf", "not a finite number"},
		{"-Infinity", temp, "-Infinity", "nan_inf", "not a finite number"},
		{"overflow", temp, "1e999", "nan_inf", "overflows"},
		{"truncated JSON", temp, `{"a": 1`, "bad_json", "byte 7: unexpected end of JSON input"},
		{"trailing comma", temp, `{"a": 1,}`, "bad_json", "byte 8: invalid character '}'"},
		{"leading zero in JSON", temp, `{"a": 01}`, "bad_json", "byte 7"},
		{"text after the object", temp, `{"a": 1} x`, "bad_json", "byte 9: invalid character 'x' after top-level value"},
		{"single quotes", temp, `{'a': 1}`, "bad_json", "byte 1"},
		{"bad escape", temp, `{"a": "\x"}`, "bad_json", "string escape code"},
		{"control character in a JSON string", temp, "{\"a\": \"x\ny\"}", "bad_json", "in string literal"},
		{"JSON array", temp, ` [1, 2]`, "bad_json", "byte 1: a JSON array"},
		{"syntax error after a null wins", temp, `{"a": null, "b": }`, "bad_json", "byte 17"},
		{"empty object", temp, `{}`, "no_fields", "no fields"},
		{"time only", temp, `{"time": 1700000000}`, "no_fields", "no fields"},
		{"empty explicit fields", temp, `{"fields": {}}`, "no_fields", "no fields"},
		{"null field", temp, `{"a": null}`, "null_field", `field "a" at byte 6 is null`},
		{"nested object", temp, `{"a": {"b": 1}}`, "bad_field", `field "a" at byte 6 is an object`},
		{"array field", temp, `{"fields": {"a": [1]}}`, "bad_field", `field "a" at byte 17 is an array`},
		{"JSON overflow", temp, `{"a": 1e999}`, "nan_inf", `field "a" at byte 6: 1e999 overflows`},
		{"too many fields", temp, manyFields, "too_many_fields", "max_fields (64)"},
		{"too many tags", temp, manyTags, "too_many_tags", "max_tags is 32"},
		{"time not RFC 3339", temp, `{"a": 1, "time": "yesterday"}`, "bad_time", `"yesterday" is not an RFC 3339 time`},
		{"epoch too large", temp, `{"a": 1, "time": 1e20}`, "bad_time", "1e20 (seconds since the epoch) is outside"},
		{"time after 2262", temp, `{"a": 1, "time": "2262-04-11T23:47:16.854775807Z"}`, "bad_time", "outside 1677-09-21T00:12:43.145224194Z..2262-04-11T23:47:16.854775806Z"},
		{"time InfluxDB keeps as a sentinel", temp, `{"a": 1, "time": "1677-09-21T00:12:43.145224193Z"}`, "bad_time", "outside"},
		{"epoch at MaxInt64", "ns/pi-1/temp", `{"a": 1, "time": 9223372036854775807}`, "bad_time", "9223372036854775807 (nanoseconds since the epoch) is outside"},
		{"epoch at MinInt64", "ns/pi-1/temp", `{"a": 1, "time": -9223372036854775808}`, "bad_time", "outside"},
		{"line time at MaxInt64", "nsline/pi-1", "cpu v=1 9223372036854775807", "bad_time", "line 1, column 9"},
		{"time before 1677", temp, `{"a": 1, "time": -9223372037}`, "bad_time", "outside"},
		{"time is a bool", temp, `{"a": 1, "time": true}`, "bad_time", "must be an RFC 3339 string or an epoch number"},
		{"time twice", temp, `{"a": 1, "time": 1, "time": 2}`, "bad_time", "twice"},
		{"field beside fields", temp, `{"fields": {"a": 1}, "b": 2}`, "bad_field", `field "b" at byte 21 sits beside "fields"`},
		{"fields not an object", temp, `{"fields": 3}`, "bad_field", `"fields" at byte 1 must be an object`},
		{"fields twice", temp, `{"fields": {"a": 1}, "fields": {"b": 2}}`, "bad_field", `"fields" at byte 21 is given twice (first at byte 1)`},
		{"tags not an object", temp, `{"tags": 3, "a": 1}`, "bad_tag", `"tags" at byte 1 must be an object of strings`},
		{"tags twice", temp, `{"tags": {}, "tags": {}, "a": 1}`, "bad_tag", `"tags" at byte 13 is given twice (first at byte 1)`},
		{"field named time in fields", temp, `{"fields": {"time": 1}}`, "bad_field", "named time"},
		{"payload tag clashes with topic", temp, `{"tags": {"device": "x"}, "a": 1}`, "bad_tag", `tag "device" is given twice (the topic and the payload)`},
		{"payload tag clashes with a static tag", "farm/north/x/soil/moisture", `{"tags": {"source": "x"}, "a": 1}`, "bad_tag", `tag "source" is given twice (the rule's tags and the payload)`},
		{"readings cannot write presence", "devices/pi-1/sensors/device_status", `{"online": true}`, "reserved_measurement", `"device_status" is written only by the status template`},
		{"bare number cannot write presence", "devices/pi-1/sensors/device_status", "1", "reserved_measurement", "status template"},
		// A line naming another device would overwrite that device's
		// points: the topic, which the ACL checked, says who sent it.
		{"line device tag clashes with topic", line, "cpu,device=pi-kitchen value=85 1700000000", "bad_tag", `line 1: tag "device" is given twice (the topic and the payload)`},
		{"line static tag clash", line, "cpu v=1\ncpu,site=home v=1", "bad_tag", `line 2: tag "site" is given twice (the rule's tags and the payload)`},
		{"line cannot write presence", line, "cpu v=1\ndevice_status online=true,state=\"online\"", "reserved_measurement", `line 2: measurement "device_status"`},
		{"tag not a string", temp, `{"tags": {"room": 3}, "a": 1}`, "bad_tag", `tag "room" at byte 10 must be a string`},
		{"tag value ends in backslash", temp, `{"a": 1, "tags": {"r": "x\\"}}`, "bad_tag", "ends with a backslash"},
		{"tag value empty", temp, `{"a": 1, "tags": {"r": ""}}`, "bad_tag", `tag "r" value at byte 23 is empty`},
		{"newline in a field name", temp, `{"a\nb": 1}`, "bad_field", `field name "a\nb" at byte 1 has a control character`},
		{"newline in a string", temp, `{"s": "one\ntwo"}`, "bad_field", "line break"},
		{"invalid UTF-8 in a string", temp, "{\"s\": \"\xff\"}", "bad_field", "not valid UTF-8"},
		{"string too long", temp, `{"s": "` + strings.Repeat("x", 4097) + `"}`, "string_too_long", "4097 bytes, max_string_bytes is 4096"},
		{"duplicate field", temp, `{"a": 1, "a": 2}`, "bad_field", `field "a" is given twice (byte 1 and byte 9)`},
		{"status unknown", "devices/pi-1/status", "maybe", "bad_status", `"maybe"; want online or offline`},
		{"status empty", "devices/pi-1/status", "", "bad_status", "empty"},
		{"line missing value", line, "cpu value=", "bad_line_protocol", "line 1, column 11"},
		{"line error on line 2", line, "cpu v=1\ncpu", "bad_line_protocol", "line 2"},
		{"line float overflow", line, "cpu v=1e999", "nan_inf", "line 1, column 7"},
		{"line int overflow", line, "cpu v=99999999999999999999i", "bad_number", "line 1, column 7"},
		{"line time overflow", line, "cpu v=1\ncpu v=1 99999999999999999", "bad_time", "line 2, column 9"},
		{"line only comments", line, "# nothing\n\n", "empty", "no points"},
		{"line newline in a string", line, `cpu msg="a\nb"`, "bad_field", "line break"},
		{"line field named time", line, "cpu time=1", "bad_field", "named time"},
		{"line tag named time", line, "cpu,time=x v=1", "bad_tag", "named time"},
		{"line duplicate field", line, "cpu v=1,v=2", "bad_field", `line 1: field "v" is given twice`},
		{"line NaN", line, "cpu v=NaN", "bad_line_protocol", "unrecognized type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, rej := appendChecked(t, m, tc.topic, []byte(tc.payload), receivedAt())
			if rej == nil {
				t.Fatalf("accepted as %q, want reject %s", out, tc.reason)
			}
			if rej.Reason != tc.reason || !strings.Contains(rej.Detail, tc.detail) {
				t.Fatalf("got %s: %s\nwant %s: ...%s...", rej.Reason, rej.Detail, tc.reason, tc.detail)
			}
		})
	}
}
