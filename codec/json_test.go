package codec

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestDecodeJSONFields(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, f *Flow)
	}{
		{"types as written", `{"dest_port":53,"bytes_in":1.0,"source_port":null,"num_flows":"7","action":true}`, func(t *testing.T, f *Flow) {
			wantValue(t, f.Get(DestPort), Value{Str: "53", Int: 53, Kind: KindNumber, IsInt: true})
			wantValue(t, f.Get(BytesIn), Value{Str: "1.0", Kind: KindNumber})
			wantValue(t, f.Get(SourcePort), Value{Str: "null", Kind: KindNull})
			wantValue(t, f.Get(NumFlows), Value{Str: "7", Kind: KindString})
			wantValue(t, f.Get(Action), Value{Str: "true", Kind: KindBool})
			wantValue(t, f.Get(DestIP), Value{})
		}},
		{"integer limits", `{"bytes_in":9223372036854775807,"bytes_out":18446744073709551619,"packets_in":-9223372036854775809,"packets_out":18446744073709551615}`, func(t *testing.T, f *Flow) {
			wantValue(t, f.Get(BytesIn), Value{Str: "9223372036854775807", Int: 9223372036854775807, Kind: KindNumber, IsInt: true})
			wantValue(t, f.Get(BytesOut), Value{Str: "18446744073709551619", Kind: KindNumber})
			wantValue(t, f.Get(PacketsIn), Value{Str: "-9223372036854775809", Kind: KindNumber})
			wantValue(t, f.Get(PacketsOut), Value{Str: "18446744073709551615", Kind: KindNumber})
		}},
		{"big and negative numbers", `{"bytes_in":-9223372036854775808,"bytes_out":9223372036854775808,"packets_in":1e3,"packets_out":-0}`, func(t *testing.T, f *Flow) {
			wantValue(t, f.Get(BytesIn), Value{Str: "-9223372036854775808", Int: -9223372036854775808, Kind: KindNumber, IsInt: true})
			wantValue(t, f.Get(BytesOut), Value{Str: "9223372036854775808", Kind: KindNumber})
			wantValue(t, f.Get(PacketsIn), Value{Str: "1e3", Kind: KindNumber})
			wantValue(t, f.Get(PacketsOut), Value{Str: "-0", Kind: KindNumber, IsInt: true})
		}},
		{"addresses", `{"source_ip":"10.48.116.157","dest_ip":"::ffff:198.51.100.1"}`, func(t *testing.T, f *Flow) {
			if a, ok := f.Addr(SourceIP); !ok || a != netip.MustParseAddr("10.48.116.157") {
				t.Errorf("src %v", a)
			}
			if a, ok := f.Addr(DestIP); !ok || a != netip.MustParseAddr("198.51.100.1") {
				t.Errorf("dst %v", a)
			}
		}},
		{"address not an address", `{"source_ip":"nope","dest_ip":null}`, func(t *testing.T, f *Flow) {
			if _, ok := f.Addr(SourceIP); ok {
				t.Error("source_ip parsed")
			}
			if f.Get(SourceIP).Str != "nope" {
				t.Errorf("Str %q", f.Get(SourceIP).Str)
			}
		}},
		{"labels", `{"source_labels":{"labels":["app=frontend","pod-template-hash=755cdc7957","bare"]},"dest_labels":{"labels":[]}}`, func(t *testing.T, f *Flow) {
			wantLabels(t, f.Labels(SourceLabels), "app", "frontend", "pod-template-hash", "755cdc7957", "bare", "")
			if f.Get(DestLabels).Kind != KindObject || len(f.Labels(DestLabels)) != 0 {
				t.Errorf("dest labels %v", f.Labels(DestLabels))
			}
			if v, ok := f.Label(SourceLabels, "app"); !ok || v != "frontend" {
				t.Errorf("Label app = %q %v", v, ok)
			}
		}},
		{"labels with escapes and odd entries", `{"source_labels":{"other":1,"labels":["a\u003db","x=\"q\"",5,{"k":"v"},"c=d"]}}`, func(t *testing.T, f *Flow) {
			wantLabels(t, f.Labels(SourceLabels), "a", "b", "x", `"q"`, "c", "d")
		}},
		{"labels of the wrong type", `{"source_labels":["app=x"],"dest_labels":{"labels":"app=x"}}`, func(t *testing.T, f *Flow) {
			if len(f.Labels(SourceLabels)) != 0 || len(f.Labels(DestLabels)) != 0 {
				t.Errorf("labels %v %v", f.Labels(SourceLabels), f.Labels(DestLabels))
			}
			if f.Get(SourceLabels).Kind != KindArray {
				t.Errorf("kind %v", f.Get(SourceLabels).Kind)
			}
		}},
		{"proto name and number", `{"proto":"udp"}`, func(t *testing.T, f *Flow) {
			wantValue(t, f.Get(Proto), Value{Str: "udp", Int: 17, Kind: KindString})
		}},
		{"proto as a number", `{"proto":6}`, func(t *testing.T, f *Flow) {
			wantValue(t, f.Get(Proto), Value{Str: "6", Int: 6, Kind: KindNumber, IsInt: true})
		}},
		{"unknown members kept in order", `{"zeta":{"a":[1,2]},"action":"deny","alpha":"x\ny"}`, func(t *testing.T, f *Flow) {
			ex := f.Extra()
			if len(ex) != 2 || ex[0].Key != "zeta" || ex[0].Value.Str != `{"a":[1,2]}` || ex[0].Value.Kind != KindObject ||
				ex[1].Key != "alpha" || ex[1].Value.Str != "x\ny" {
				t.Errorf("extra %+v", ex)
			}
			if v, ok := f.Lookup("alpha"); !ok || v.Str != "x\ny" {
				t.Errorf("Lookup alpha %+v %v", v, ok)
			}
			if v, ok := f.Lookup("action"); !ok || v.Str != "deny" {
				t.Errorf("Lookup action %+v %v", v, ok)
			}
			if _, ok := f.Lookup("dest_ip"); ok {
				t.Error("Lookup of an absent field found it")
			}
			if got := string(AppendJSON(nil, f)); got != `{"zeta":{"a":[1,2]},"action":"deny","alpha":"x\ny"}` {
				t.Errorf("re-encoded %s", got)
			}
		}},
		{"duplicate keys: last wins, first position", `{"action":"allow","reporter":"src","action":"deny","x":1,"x":2}`, func(t *testing.T, f *Flow) {
			if f.Get(Action).Str != "deny" {
				t.Errorf("action %q", f.Get(Action).Str)
			}
			if v, _ := f.Lookup("x"); v.Str != "2" || len(f.Extra()) != 1 {
				t.Errorf("x %+v extras %d", v, len(f.Extra()))
			}
			if got := string(AppendJSON(nil, f)); got != `{"action":"deny","reporter":"src","x":2}` {
				t.Errorf("re-encoded %s", got)
			}
		}},
		{"duplicate ip resets the address", `{"source_ip":"10.0.0.1","source_ip":null}`, func(t *testing.T, f *Flow) {
			if _, ok := f.Addr(SourceIP); ok {
				t.Error("address kept from the first member")
			}
		}},
		{"camelCase times", `{"startTime":1699375161,"endTime":1699375483,"action":"allow"}`, func(t *testing.T, f *Flow) {
			wantValue(t, f.Get(StartTime), Value{Str: "1699375161", Int: 1699375161, Kind: KindNumber, IsInt: true})
			wantValue(t, f.Get(EndTime), Value{Str: "1699375483", Int: 1699375483, Kind: KindNumber, IsInt: true})
			if _, ok := f.Lookup("start_time"); ok {
				t.Error("Lookup(start_time) found the camelCase member")
			}
			if v, ok := f.Lookup("startTime"); !ok || v.Int != 1699375161 {
				t.Errorf("Lookup(startTime) %+v %v", v, ok)
			}
			if got := string(AppendJSON(nil, f)); got != `{"startTime":1699375161,"endTime":1699375483,"action":"allow"}` {
				t.Errorf("re-encoded %s", got)
			}
		}},
		{"both spellings", `{"start_time":1,"startTime":2}`, func(t *testing.T, f *Flow) {
			if f.Get(StartTime).Int != 1 {
				t.Errorf("start_time %d", f.Get(StartTime).Int)
			}
			if v, ok := f.Lookup("startTime"); !ok || v.Int != 2 {
				t.Errorf("startTime %+v %v", v, ok)
			}
			if got := string(AppendJSON(nil, f)); got != `{"start_time":1,"startTime":2}` {
				t.Errorf("re-encoded %s", got)
			}
		}},
		{"escapes", `{"source_namespace":"a\"b\\c\/d\u00e9\ud83d\ude00\ud800x","k\u0065y":"v"}`, func(t *testing.T, f *Flow) {
			if got := f.Get(SourceNamespace).Str; got != "a\"b\\c/dé😀\uFFFDx" {
				t.Errorf("unescaped %q", got)
			}
			if v, ok := f.Lookup("key"); !ok || v.Str != "v" {
				t.Errorf("escaped key: %+v %v", v, ok)
			}
		}},
		{"escaped known key", `{"dest_\u0070ort":443}`, func(t *testing.T, f *Flow) {
			if f.Get(DestPort).Int != 443 {
				t.Errorf("dest_port %+v", *f.Get(DestPort))
			}
		}},
		{"empty object and whitespace", " \t{ }\r\n", func(t *testing.T, f *Flow) {
			if got := string(AppendJSON(nil, f)); got != "{}" {
				t.Errorf("re-encoded %s", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Flow
			if err := Decode([]byte(tt.in), &f); err != nil {
				t.Fatal(err)
			}
			if f.Format() != FormatJSON {
				t.Errorf("format %v", f.Format())
			}
			tt.check(t, &f)
			out := AppendJSON(nil, &f)
			var g Flow
			if err := DecodeJSON(out, &g); err != nil || !f.Equal(&g) {
				t.Errorf("re-decoding %s: err %v", out, err)
			}
		})
	}
}

func wantValue(t *testing.T, got *Value, want Value) {
	t.Helper()
	if *got != want {
		t.Errorf("value %+v, want %+v", *got, want)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		offset int
		msg    string
	}{
		{"truncated", `{"action":"allow","bytes_in":12`, 31, "end of record"},
		{"truncated string", `{"action":"all`, 14, "end of record in a string"},
		{"trailing garbage", `{"a":1} x`, 8, "after the record"},
		{"two objects", `{"a":1}{"b":2}`, 7, "after the record"},
		{"bad escape", `{"a":"x\qy"}`, 7, "invalid escape"},
		{"bad unicode escape", `{"a":"\u12G4"}`, 6, `\u escape`},
		{"invalid utf8", "{\"a\":\"x\xff\"}", 7, "UTF-8"},
		{"invalid utf8 nested", "{\"a\":[\"\xc3\x28\"]}", 7, "UTF-8"},
		{"control char", "{\"a\":\"x\ny\"}", 7, "control character"},
		{"missing colon", `{"a" 1}`, 5, "':'"},
		{"missing comma", `{"a":1 "b":2}`, 7, "','"},
		{"trailing comma", `{"a":1,}`, 7, "member name"},
		{"bare word", `{"a":tru}`, 5, "literal"},
		{"bad number", `{"a":01}`, 6, "','"},
		{"bad fraction", `{"a":1.}`, 7, "digit"},
		{"bad exponent", `{"a":1e}`, 7, "digit"},
		{"not an object", `["a"]`, 0, "'{'"},
		{"unclosed nested", `{"a":{"b":[1,2}}`, 14, "']'"},
		{"too deep", `{"a":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, 5 + 512, "nesting"},
		{"too deep in labels", `{"source_labels":{"x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}}`, 22 + 511, "nesting"},
		{"labels: truncated", `{"source_labels":{"labels":["a=b"`, 33, "',' or ']'"},
		{"labels: bad entry", `{"source_labels":{"labels":["a=b",x]}}`, 34, "value"},
		{"labels: missing colon", `{"dest_labels":{"labels" ["a=b"]}}`, 25, "':'"},
		{"labels: bad escape", `{"dest_labels":{"labels":["a\qb"]}}`, 28, "invalid escape"},
		{"labels: trailing comma", `{"dest_labels":{"labels":["a=b"],}}`, 33, "member name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Flow
			err := DecodeJSON([]byte(tt.in), &f)
			var se *SyntaxError
			if !errors.As(err, &se) || se.Format != FormatJSON {
				t.Fatalf("err = %v, want a JSON *SyntaxError", err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("offset %d msg %q, want offset %d and %q", se.Offset, se.Msg, tt.offset, tt.msg)
			}
			if !strings.Contains(err.Error(), "byte ") {
				t.Errorf("message %q does not name the offset", err)
			}
		})
	}
}

func TestTextJSONRoundTrip(t *testing.T) {
	lines := []string{
		docsLine,
		textLine(map[int]string{5: "multitool", 6: "[run=multitool]", 9: "pub", 10: `{"a":"b"}`, 11: "10.48.116.157", 12: "2001:db8::1", 13: "17", 14: "40000", 24: "deny"}),
		textLine(map[int]string{1: "-", 3: "-", 13: "99", 10: "[]", 19: "src"}),
		textLine(map[int]string{4: `we"ird\ns`, 6: "k=\x01v"}),
	}
	for _, line := range lines {
		var f, g Flow
		if err := DecodeText([]byte(line), &f); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out := AppendJSON(nil, &f)
		if err := DecodeJSON(out, &g); err != nil {
			t.Fatalf("%s: re-decoding %s: %v", line, out, err)
		}
		if !f.Equal(&g) {
			t.Errorf("text -> JSON -> Flow differs\ntext: %s\njson: %s", line, out)
		}
		if g.Get(Proto).Kind != KindString {
			t.Errorf("proto written as %s", out)
		}
	}
	var f Flow
	if err := DecodeText([]byte(docsLine), &f); err != nil {
		t.Fatal(err)
	}
	want := `{"start_time":1528842551,"end_time":1528842851,"source_name_aggr":"rails-81531*","source_namespace":"dev","source_type":"wep",` +
		`"dest_name_aggr":"memcached-38456*","dest_namespace":"dev","dest_port":3000,"dest_type":"wep","proto":"tcp","action":"allow","reporter":"out",` +
		`"bytes_in":70111,"bytes_out":49404,"num_flows":7,"num_flows_started":3,"num_flows_completed":4,"packets_in":154,"packets_out":61}`
	if got := string(AppendJSON(nil, &f)); got != want {
		t.Errorf("docs line as JSON:\n got %s\nwant %s", got, want)
	}
}

func TestAppendJSONMembersAndSet(t *testing.T) {
	var f Flow
	if err := DecodeJSON([]byte(`{"action":"deny"}`), &f); err != nil {
		t.Fatal(err)
	}
	f.Set(DestIP, Value{Str: "203.0.113.5", Kind: KindString})
	f.SetExtra("threat", Value{Str: `{"rule":"c2"}`, Kind: KindObject})
	if a, ok := f.Addr(DestIP); !ok || a != netip.MustParseAddr("203.0.113.5") {
		t.Errorf("Set did not type dest_ip: %v", a)
	}
	if got := string(AppendJSON(nil, &f)); got != `{"action":"deny","dest_ip":"203.0.113.5","threat":{"rule":"c2"}}` {
		t.Errorf("got %s", got)
	}
	var empty Flow
	if got := string(AppendJSONMembers([]byte("{"), &empty)); got != "{" {
		t.Errorf("members of an empty flow: %q", got)
	}
}

func TestFelixOrderCoversEveryField(t *testing.T) {
	seen := map[Field]bool{}
	for _, id := range felixOrder {
		if seen[id] {
			t.Errorf("%v twice", id)
		}
		seen[id] = true
	}
	if len(seen) != int(NumFields) {
		t.Errorf("felixOrder has %d fields, want %d", len(seen), NumFields)
	}
	for i := Field(0); i < NumFields; i++ {
		if e, ok := lookupKey(i.String()); !ok || e.field != i {
			t.Errorf("lookupKey(%q) = %v %v", i.String(), e.field, ok)
		}
	}
	for _, k := range []string{"", "x", "source_namespacex", "dest_ipx", "start", "Start_time"} {
		if _, ok := lookupKey(k); ok {
			t.Errorf("lookupKey(%q) found a field", k)
		}
	}
}

func TestAppendEscaped(t *testing.T) {
	for _, s := range []string{
		"", "plain", "exactly8", "sixteen-bytes-ok", `q"uote`, `back\slash`, "tab\tnl\ncr\r",
		"\x00\x01\x1f\x7f", "héllo wörld, ünïcode 😀", "long string with a quote at the end......\"",
		strings.Repeat("a", 63) + "\n" + strings.Repeat("b", 9),
	} {
		enc := append([]byte{'"'}, appendEscaped(nil, s)...)
		enc = append(enc, '"')
		var got string
		if err := json.Unmarshal(enc, &got); err != nil || got != s {
			t.Errorf("appendEscaped(%q) = %s: decodes to %q, %v", s, enc, got, err)
		}
	}
}

// TestAppendJSONString pins the one escaper's output: the short escapes for
// \n \r \t, \u00XX for other control bytes, everything else (DEL, non-ASCII,
// invalid UTF-8) byte for byte, on both sides of the eight-byte fast path.
func TestAppendJSONString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"\n\r\t\x00\x1f\x7f", `"\n\r\t\u0000\u001f` + "\x7f\""},
		{"bad \xff \xc3\x28", "\"bad \xff \xc3\x28\""},
		{"0123456789abcdef\x01", `"0123456789abcdef\u0001"`},
		{"é世界", `"é世界"`},
	} {
		if got := string(AppendJSONString([]byte("x"), tc.in)); got != "x"+tc.want {
			t.Errorf("AppendJSONString(%q) = %s, want x%s", tc.in, got, tc.want)
		}
	}
}
