package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

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

// TestThreatJSONCut: a threat record cut to a limit is valid JSON within
// the limit, carries the verdict exactly as the whole record does, marks
// the record cut with its length, and carries a prefix of the flow's JSON
// that ends on a character boundary, for limits from just above the
// verdict's size up to more than the whole record.
func TestThreatJSONCut(t *testing.T) {
	var f codec.Flow
	f.SetExtra("a", codec.Value{Str: strings.Repeat("é\"x\x01世", 300), Kind: codec.KindString})
	set := &Set{version: "v1", threatInfo: []ThreatRule{{Name: "c2", Severity: "critical"}}, filterNames: []string{"drop-dev"}}
	v := &Verdict{Keep: true, DropRule: -1, Threats: []Hit{{Rule: 0, Field: codec.NumFields, Reason: "dest_ip in feed bad"}}}
	whole := AppendThreatJSON(nil, &f, set, v)
	record := string(codec.AppendJSON(nil, &f))

	var full struct {
		Flowsieve map[string]any `json:"flowsieve"`
	}
	if err := json.Unmarshal(whole, &full); err != nil {
		t.Fatal(err)
	}
	minimal := len(AppendThreatJSONCut(nil, &f, set, v, 0)) // the verdict and an empty record
	for limit := minimal; limit < len(whole)*2; limit += 37 {
		got := AppendThreatJSONCut([]byte("prefix"), &f, set, v, limit)[len("prefix"):]
		if len(got) > limit {
			t.Fatalf("limit %d: %d bytes", limit, len(got))
		}
		var cut struct {
			Flowsieve map[string]any `json:"flowsieve"`
			Record    *string        `json:"record"`
		}
		if err := json.Unmarshal(got, &cut); err != nil || cut.Record == nil {
			t.Fatalf("limit %d: not a cut threat record (%v): %s", limit, err, got)
		}
		if cut.Flowsieve["record_cut"] != true || cut.Flowsieve["record_bytes"] != float64(len(record)) {
			t.Errorf("limit %d: record_cut %v, record_bytes %v, want true, %d", limit, cut.Flowsieve["record_cut"], cut.Flowsieve["record_bytes"], len(record))
		}
		delete(cut.Flowsieve, "record_cut")
		delete(cut.Flowsieve, "record_bytes")
		if fmt.Sprint(cut.Flowsieve) != fmt.Sprint(full.Flowsieve) {
			t.Errorf("limit %d: verdict %v, want %v", limit, cut.Flowsieve, full.Flowsieve)
		}
		if !strings.HasPrefix(record, *cut.Record) || !utf8.ValidString(*cut.Record) {
			t.Errorf("limit %d: record %q is not a whole-character prefix of the flow's JSON", limit, *cut.Record)
		}
		// Near the limit: within one escaped character (six bytes) of it,
		// or the whole record.
		if len(got) < limit-6 && len(*cut.Record) < len(record) {
			t.Errorf("limit %d: only %d bytes used", limit, len(got))
		}
	}
}
