package codec

import (
	"net/netip"
	"testing"
)

func TestEqual(t *testing.T) {
	base := `{"action":"allow","source_labels":{"labels":["a=b"]},"dest_ip":"10.0.0.1","x":1}`
	tests := []struct {
		name  string
		other string
		equal bool
	}{
		{"same", base, true},
		{"members reordered", `{"x":1,"dest_ip":"10.0.0.1","action":"allow","source_labels":{"labels":["a=b"]}}`, true},
		{"value", `{"action":"deny","source_labels":{"labels":["a=b"]},"dest_ip":"10.0.0.1","x":1}`, false},
		{"kind", `{"action":"allow","source_labels":{"labels":["a=b"]},"dest_ip":"10.0.0.1","x":"1"}`, false},
		{"number text", `{"action":"allow","source_labels":{"labels":["a=b"]},"dest_ip":"10.0.0.1","x":1.0}`, false},
		{"label", `{"action":"allow","source_labels":{"labels":["a=c"]},"dest_ip":"10.0.0.1","x":1}`, false},
		{"missing extra", `{"action":"allow","source_labels":{"labels":["a=b"]},"dest_ip":"10.0.0.1","y":1}`, false},
		{"more extras", base[:len(base)-1] + `,"y":2}`, false},
	}
	for _, tt := range tests {
		var a, b Flow
		if err := DecodeJSON([]byte(base), &a); err != nil {
			t.Fatal(err)
		}
		if err := DecodeJSON([]byte(tt.other), &b); err != nil {
			t.Fatal(err)
		}
		if got := a.Equal(&b); got != tt.equal {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.equal)
		}
	}
}

func TestBuildFlowInCode(t *testing.T) {
	var f Flow
	f.Set(Action, Value{Str: "deny", Kind: KindString})
	f.Set(BytesOut, Value{Int: 42, Kind: KindNumber, IsInt: true}) // no JSON text: written from Int
	f.Set(Proto, Value{Str: "udp", Kind: KindString})
	f.Set(SourceLabels, Value{Str: `{"labels":["app=x"]}`, Kind: KindObject})
	f.SetAddr(DestIP, netip.MustParseAddr("2001:db8::7"))
	f.SetAddr(Action, netip.MustParseAddr("10.0.0.1")) // not an address field: ignored
	f.SetExtra("note", Value{Str: "first", Kind: KindString})
	f.SetExtra("note", Value{Str: "second", Kind: KindString})
	f.SetExtra("flag", Value{Kind: KindBool})
	f.SetExtra("none", Value{Kind: KindNull})
	if f.Get(Proto).Int != 17 {
		t.Errorf("proto number %d", f.Get(Proto).Int)
	}
	if v, ok := f.Label(SourceLabels, "app"); !ok || v != "x" {
		t.Errorf("label app = %q %v", v, ok)
	}
	got := string(AppendJSON(nil, &f))
	exp := `{"source_labels":{"labels":["app=x"]},"dest_ip":"2001:db8::7","proto":"udp","action":"deny","bytes_out":42,"note":"second","flag":false,"none":null}`
	if got != exp {
		t.Errorf("AppendJSON\n got %s\nwant %s", got, exp)
	}
	f.SetAddr(DestIP, netip.Addr{})
	if _, ok := f.Addr(DestIP); ok || f.Get(DestIP).Kind != KindAbsent {
		t.Error("SetAddr with the zero Addr did not clear dest_ip")
	}
}

func TestFieldNames(t *testing.T) {
	for id := Field(0); id < NumFields; id++ {
		got, ok := FieldByName(id.String())
		if !ok || got != id {
			t.Errorf("FieldByName(%q) = %v %v", id.String(), got, ok)
		}
	}
	if _, ok := FieldByName("startTime"); ok {
		t.Error("FieldByName knows the camelCase alias")
	}
	if NumFields.String() != "unknown" || Kind(99).String() != "unknown" || KindNumber.String() != "number" {
		t.Error("String of out-of-range values")
	}
	if DestIP.Type() != TypeIP || SourceLabels.Type() != TypeLabels || ProcessID.Type() != TypeString {
		t.Error("field types")
	}
	if TextColumnName(1) != "startTime" || TextColumnName(24) != "action" || TextColumnName(25) != "" || TextColumns != 24 {
		t.Error("text column names")
	}
}

func TestProtoNames(t *testing.T) {
	for n := int64(0); n < 256; n++ {
		name := ProtoName(n)
		if name == "" {
			continue
		}
		if got, ok := protoNumber(name); !ok || got != n {
			t.Errorf("protoNumber(%q) = %d %v, want %d", name, got, ok, n)
		}
	}
	for s, want := range map[string]int64{"TCP": 6, "Icmp6": 58, "ipv6-icmp": 58, "ipencap": 4, "255": 255, "0": 0} {
		if got, ok := protoNumber(s); !ok || got != want {
			t.Errorf("protoNumber(%q) = %d %v, want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "256", "-1", "tcpx", "averyverylongname", "01x"} {
		if _, ok := protoNumber(s); ok {
			t.Errorf("protoNumber(%q) accepted", s)
		}
	}
	if ProtoName(-1) != "" || ProtoName(300) != "" {
		t.Error("ProtoName out of range")
	}
}

// Short member names at the very end of a record take hasKey's careful path.
func TestPredictedShortKeys(t *testing.T) {
	var f Flow
	for _, rec := range []string{`{"action":"allow","host":"n1"}`, `{"action":"deny","host":"n2"}`, `{"action":"deny","host":1}`} {
		if err := DecodeJSON([]byte(rec), &f); err != nil {
			t.Fatal(err)
		}
		if got := string(AppendJSON(nil, &f)); got != rec {
			t.Errorf("%s came back as %s", rec, got)
		}
	}
	if f.Get(Host).Str != "1" || f.Get(Host).Kind != KindNumber {
		t.Errorf("host %+v", *f.Get(Host))
	}
}
