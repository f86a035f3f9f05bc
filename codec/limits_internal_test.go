package codec

import (
	"fmt"
	"strings"
	"testing"
)

// membersRecord is a JSON record of n short members the model does not
// know, as in the report: {"k0":0,"k1":1,...}.
func membersRecord(n int) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// MembersRecord is membersRecord for the external tests.
var MembersRecord = membersRecord

// TestQuadraticMembersProbes counts the work of finding repeated keys
// (slots of the index looked at) for records of 6,000 and 60,000
// members: ten times the members must cost about ten times the probes
// (the check allows 15), where the former scan of every earlier member
// cost a hundred times. Unlike time, the count does not depend on the
// machine's load.
func TestQuadraticMembersProbes(t *testing.T) {
	probes := func(n int) int {
		rec := membersRecord(n)
		rec = append(rec[:len(rec)-1], `,"k7":"again"}`...) // a repeat, found through the index
		var f Flow
		if err := DecodeJSON(rec, &f); err != nil {
			t.Fatal(err)
		}
		if len(f.extra) != n || f.extra[7].Value.Str != "again" {
			t.Fatalf("%d extras, [7] = %+v", len(f.extra), f.extra[7])
		}
		return f.extraIdx.probes
	}
	small, large := probes(6000), probes(60000)
	ratio := float64(large) / float64(small)
	t.Logf("probes: %d for 6k members, %d for 60k: ratio %.1f", small, large, ratio)
	if ratio > 15 || large > 8*60000 {
		t.Fatalf("probes grow faster than the members: %d for 6k, %d for 60k", small, large)
	}
}
