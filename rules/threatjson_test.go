package rules

import (
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
)

// TestThreatJSONEscapesAsCodec: the threat record's own strings (rule name,
// severity, reason) and the record's members go through one escaper, so
// control bytes and invalid UTF-8 come out the same on both paths.
func TestThreatJSONEscapesAsCodec(t *testing.T) {
	for _, s := range []string{
		"plain",
		"q\"b\\s",
		"nul\x00 bel\x07 nl\n cr\r tab\t us\x1f del\x7f",
		"bad \xff utf8 \xc3\x28 cut \xe2\x82",
		"é 世界 \U0001F600",
		strings.Repeat("x\x01", 20),
	} {
		var f codec.Flow
		f.SetExtra("v", codec.Value{Str: s, Kind: codec.KindString})
		set := &Set{version: s, threatInfo: []ThreatRule{{Name: s, Severity: s}}, filterNames: []string{s}}
		v := &Verdict{DropRule: 0, Threats: []Hit{{Rule: 0, Feed: s, Field: codec.NumFields, Reason: s}}}
		got := string(AppendThreatJSON(nil, &f, set, v))

		q := string(codec.AppendJSONString(nil, s))
		member := string(codec.AppendJSON(nil, &f)) // {"v":<q>}
		if member != `{"v":`+q+`}` {
			t.Fatalf("codec.AppendJSON(%q) = %s, want the value as %s", s, member, q)
		}
		want := `{"v":` + q + `,"flowsieve":{"rules_version":` + q +
			`,"threats":[{"rule":` + q + `,"severity":` + q + `,"feed":` + q + `,"reason":` + q +
			`}],"dropped_by":` + q + `}}`
		if got != want {
			t.Errorf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
}
