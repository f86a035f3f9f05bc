package codec

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

// realDir is a directory holding a copy of the real Calico records
// (internal/calicoreal).
func realDir(tb testing.TB) string {
	tb.Helper()
	return calicoreal.Dir(tb)
}

const docsLine = "1528842551 1528842851 wep dev rails-81531* - wep dev memcached-38456* - - - 6 - 3000 7 3 4 out 154 61 70111 49404 allow"

func TestDecodeTextDocsExample(t *testing.T) {
	var f Flow
	if err := DecodeText([]byte(docsLine), &f); err != nil {
		t.Fatal(err)
	}
	if f.Format() != FormatText {
		t.Errorf("format = %v", f.Format())
	}
	str := func(id Field, want string) {
		t.Helper()
		v := f.Get(id)
		if v.Kind != KindString || v.Str != want {
			t.Errorf("%v = %v %q, want string %q", id, v.Kind, v.Str, want)
		}
	}
	num := func(id Field, want int64) {
		t.Helper()
		v := f.Get(id)
		if v.Kind != KindNumber || !v.IsInt || v.Int != want {
			t.Errorf("%v = %+v, want number %d", id, *v, want)
		}
	}
	absent := func(id Field) {
		t.Helper()
		if k := f.Get(id).Kind; k != KindAbsent {
			t.Errorf("%v kind = %v, want absent", id, k)
		}
	}
	num(StartTime, 1528842551)
	num(EndTime, 1528842851)
	str(SourceType, "wep")
	str(SourceNamespace, "dev")
	str(SourceNameAggr, "rails-81531*")
	absent(SourceName)
	absent(SourceLabels)
	str(DestNameAggr, "memcached-38456*")
	absent(DestName)
	absent(SourceIP)
	absent(DestIP)
	str(Proto, "tcp")
	if f.Get(Proto).Int != 6 {
		t.Errorf("proto Int = %d", f.Get(Proto).Int)
	}
	absent(SourcePort)
	num(DestPort, 3000)
	num(NumFlows, 7)
	num(NumFlowsStarted, 3)
	num(NumFlowsCompleted, 4)
	str(Reporter, "out")
	num(PacketsIn, 154)
	num(PacketsOut, 61)
	num(BytesIn, 70111)
	num(BytesOut, 49404)
	str(Action, "allow")
}

func TestDecodeTextRealExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(realDir(t), "flows-text-tigera-docs.log"))
	if err != nil {
		t.Fatal(err)
	}
	var f Flow
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if err := Decode([]byte(line), &f); err != nil {
			t.Errorf("line %d: %v", i+1, err)
		}
		if f.Format() != FormatText {
			t.Errorf("line %d: format %v", i+1, f.Format())
		}
	}
}

// textLine builds a docs-like line with some columns replaced (1-based).
func textLine(repl map[int]string) string {
	cols := strings.Fields(docsLine)
	for c, v := range repl {
		cols[c-1] = v
	}
	return strings.Join(cols, " ")
}

func TestDecodeTextColumns(t *testing.T) {
	tests := []struct {
		name  string
		repl  map[int]string
		check func(t *testing.T, f *Flow)
	}{
		{"plain names fill name and aggr", map[int]string{5: "multitool", 9: "nginx-7d9f-x2x"}, func(t *testing.T, f *Flow) {
			if f.Get(SourceName).Str != "multitool" || f.Get(SourceNameAggr).Str != "multitool" {
				t.Errorf("source name %q aggr %q", f.Get(SourceName).Str, f.Get(SourceNameAggr).Str)
			}
			if f.Get(DestName).Str != "nginx-7d9f-x2x" || f.Get(DestNameAggr).Str != "nginx-7d9f-x2x" {
				t.Errorf("dest name %q aggr %q", f.Get(DestName).Str, f.Get(DestNameAggr).Str)
			}
		}},
		{"pub and lone star", map[int]string{5: "pub", 9: "*"}, func(t *testing.T, f *Flow) {
			if f.Get(SourceName).Str != "pub" || f.Get(SourceNameAggr).Str != "pub" {
				t.Errorf("pub: %+v", *f.Get(SourceNameAggr))
			}
			if f.Get(DestName).Kind != KindAbsent || f.Get(DestNameAggr).Str != "*" {
				t.Errorf("*: name %+v aggr %+v", *f.Get(DestName), *f.Get(DestNameAggr))
			}
		}},
		{"ips", map[int]string{11: "10.0.0.1", 12: "::ffff:203.0.113.9"}, func(t *testing.T, f *Flow) {
			if a, ok := f.Addr(SourceIP); !ok || a != netip.MustParseAddr("10.0.0.1") {
				t.Errorf("src %v %v", a, ok)
			}
			if a, ok := f.Addr(DestIP); !ok || a != netip.MustParseAddr("203.0.113.9") {
				t.Errorf("dst %v %v (want unmapped)", a, ok)
			}
			if f.Get(DestIP).Str != "::ffff:203.0.113.9" {
				t.Errorf("dest_ip Str %q, want as written", f.Get(DestIP).Str)
			}
		}},
		{"ipv6", map[int]string{11: "fd00::1"}, func(t *testing.T, f *Flow) {
			if a, _ := f.Addr(SourceIP); a != netip.MustParseAddr("fd00::1") {
				t.Errorf("src %v", a)
			}
		}},
		{"proto udp by number", map[int]string{13: "17"}, func(t *testing.T, f *Flow) {
			if v := f.Get(Proto); v.Str != "udp" || v.Int != 17 || v.Kind != KindString {
				t.Errorf("%+v", *v)
			}
		}},
		{"proto by name", map[int]string{13: "ICMP"}, func(t *testing.T, f *Flow) {
			if v := f.Get(Proto); v.Str != "icmp" || v.Int != 1 {
				t.Errorf("%+v", *v)
			}
		}},
		{"proto icmpv6", map[int]string{13: "58"}, func(t *testing.T, f *Flow) {
			if v := f.Get(Proto); v.Str != "icmpv6" || v.Int != 58 {
				t.Errorf("%+v", *v)
			}
		}},
		{"proto sctp", map[int]string{13: "132"}, func(t *testing.T, f *Flow) {
			if v := f.Get(Proto); v.Str != "sctp" || v.Int != 132 {
				t.Errorf("%+v", *v)
			}
		}},
		{"proto unknown number kept", map[int]string{13: "99"}, func(t *testing.T, f *Flow) {
			if v := f.Get(Proto); v.Str != "99" || v.Int != 99 || v.Kind != KindString {
				t.Errorf("%+v", *v)
			}
		}},
		{"leading zeros normalised", map[int]string{15: "0080"}, func(t *testing.T, f *Flow) {
			if v := f.Get(DestPort); v.Str != "80" || v.Int != 80 {
				t.Errorf("%+v", *v)
			}
		}},
		{"labels plain", map[int]string{6: "app=web,tier=db"}, func(t *testing.T, f *Flow) {
			wantLabels(t, f.Labels(SourceLabels), "app", "web", "tier", "db")
			if v := f.Get(SourceLabels); v.Kind != KindObject || v.Str != `{"labels":["app=web","tier=db"]}` {
				t.Errorf("%+v", *v)
			}
		}},
		{"labels bracketed", map[int]string{10: "[k8s-app=kube-dns,pod-template-hash=576cbf47c7]"}, func(t *testing.T, f *Flow) {
			wantLabels(t, f.Labels(DestLabels), "k8s-app", "kube-dns", "pod-template-hash", "576cbf47c7")
		}},
		{"labels braced quoted json", map[int]string{10: `{"app":"x","b":"y=z"}`}, func(t *testing.T, f *Flow) {
			wantLabels(t, f.Labels(DestLabels), "app", "x", "b", "y=z")
		}},
		{"labels quoted pairs", map[int]string{6: `["app=x","empty="]`}, func(t *testing.T, f *Flow) {
			wantLabels(t, f.Labels(SourceLabels), "app", "x", "empty", "")
		}},
		{"labels empty", map[int]string{6: "[]"}, func(t *testing.T, f *Flow) {
			if f.Get(SourceLabels).Kind != KindObject || len(f.Labels(SourceLabels)) != 0 {
				t.Errorf("%+v %v", *f.Get(SourceLabels), f.Labels(SourceLabels))
			}
			if _, ok := f.Label(SourceLabels, "app"); ok {
				t.Error("label found in empty set")
			}
		}},
		{"negative number", map[int]string{20: "-5"}, func(t *testing.T, f *Flow) {
			if v := f.Get(PacketsIn); v.Int != -5 || v.Str != "-5" {
				t.Errorf("%+v", *v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Flow
			if err := DecodeText([]byte(textLine(tt.repl)), &f); err != nil {
				t.Fatal(err)
			}
			tt.check(t, &f)
		})
	}
}

func wantLabels(t *testing.T, got []Label, kv ...string) {
	t.Helper()
	if len(got)*2 != len(kv) {
		t.Fatalf("labels %v, want %v", got, kv)
	}
	for i, l := range got {
		if l.Key != kv[2*i] || l.Value != kv[2*i+1] {
			t.Errorf("label %d = %v, want %s=%s", i, l, kv[2*i], kv[2*i+1])
		}
	}
}

func TestDecodeTextErrors(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		column int
		field  string
		offset int
	}{
		{"too few columns", "1 2 wep", 4, "srcNamespace", 7},
		{"too many columns", docsLine + " extra", 25, "after action", len(docsLine) + 1},
		{"non number", textLine(map[int]string{1: "abc"}), 1, "startTime", 0},
		{"non number port", textLine(map[int]string{15: "80x"}), 15, "dstPort", strings.Index(textLine(map[int]string{15: "80x"}), "80x")},
		{"bad ip", textLine(map[int]string{11: "10.0.0.300"}), 11, "srcIP", strings.Index(textLine(map[int]string{11: "10.0.0.300"}), "10.0.0.300")},
		{"bad proto", textLine(map[int]string{13: "foo"}), 13, "proto", strings.Index(textLine(map[int]string{13: "foo"}), " foo ") + 1},
		{"proto out of range", textLine(map[int]string{13: "256"}), 13, "proto", strings.Index(textLine(map[int]string{13: "256"}), " 256 ") + 1},
		{"bad labels", textLine(map[int]string{6: "a=b,,c=d"}), 6, "srcLabels", strings.Index(textLine(map[int]string{6: "a=b,,c=d"}), "a=b")},
		{"label key with equals", textLine(map[int]string{6: `"a=b":c`}), 6, "srcLabels", strings.Index(textLine(map[int]string{6: `"a=b":c`}), `"a=b"`)},
		{"overflow", textLine(map[int]string{22: "99999999999999999999"}), 22, "bytesIn", strings.Index(textLine(map[int]string{22: "99999999999999999999"}), "999")},
		{"invalid utf8", textLine(map[int]string{4: "d\xffv"}), 4, "srcNamespace", strings.Index(textLine(map[int]string{4: "d\xffv"}), "d\xff")},
		{"blank", "   ", 1, "startTime", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Flow
			err := Decode([]byte(tt.line), &f)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
			if se.Format != FormatText || se.Column != tt.column || se.Field != tt.field || se.Offset != tt.offset {
				t.Errorf("got column %d (%s) offset %d, want column %d (%s) offset %d: %v",
					se.Column, se.Field, se.Offset, tt.column, tt.field, tt.offset, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.field) || !strings.Contains(msg, "byte") {
				t.Errorf("message %q does not say where", msg)
			}
		})
	}
}

func TestDecodeTextReuseNoAllocs(t *testing.T) {
	line := []byte(textLine(map[int]string{5: "web-1", 6: "[app=web,tier=frontend]", 11: "10.1.2.3", 12: "198.51.100.7", 14: "43210"}))
	var f Flow
	if err := DecodeText(line, &f); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if err := DecodeText(line, &f); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeText into a reused Flow: %v allocs per record, want 0", allocs)
	}
}

func TestParseIPv4AgreesWithNetip(t *testing.T) {
	for _, s := range []string{
		"10.0.0.1", "0.0.0.0", "255.255.255.255", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.02.3.4",
		"0.0.0.00", "1..2.3", ".1.2.3", "1.2.3.", "a.b.c.d", "1.2.3.4 ", "", "::1", "::ffff:1.2.3.4", "999.0.0.0",
		"192.168.001.1", "1.2.3.-4",
	} {
		want, err := netip.ParseAddr(s)
		got, ok := parseIPv4(s)
		if ok && (err != nil || got != want) {
			t.Errorf("parseIPv4(%q) = %v, netip says %v %v", s, got, want, err)
		}
		if !ok && err == nil && want.Is4() {
			t.Errorf("parseIPv4(%q) refused a valid IPv4 address", s)
		}
	}
}
