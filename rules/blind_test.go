package rules

import (
	"reflect"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

const blindRules = `threats:
  - {name: c2, severity: high, when: {any: [{field: dest_ip, cidr: 198.51.100.0/24}, {field: source_ip, cidr: 198.51.100.0/24}]}}
  - {name: ephemeral-src, severity: low, when: {field: source_port, gt: 49151}}
  - {name: no-ip, severity: low, when: {field: dest_ip, absent: true}}
  - {name: mining, severity: high, when: {field: dest_port, in: [3333]}}
  - {name: pod, severity: low, when: {not: {field: source_name, prefix: trusted-}}}
  - {name: denied-public, severity: low, when: {all: [{field: action, equals: deny}, {field: dest_ip, absent: false}]}}
  - {name: needs-ip, severity: low, when: {all: [{field: dest_ip, absent: false}, {field: dest_port, equals: 80}]}}
`

func TestBlindSpots(t *testing.T) {
	s, err := Load([]byte(blindRules), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []BlindSpot{
		{"c2", "source_ip", "2 and 3"},
		{"c2", "dest_ip", "2 and 3"},
		{"ephemeral-src", "source_port", "1, 2 and 3"},
		{"pod", "source_name", "2 and 3"},
		{"denied-public", "dest_ip", "2 and 3"},
		{"needs-ip", "dest_ip", "2 and 3"},
	}
	if got := s.BlindSpots(); !reflect.DeepEqual(got, want) {
		t.Errorf("BlindSpots:\n got %v\nwant %v", got, want)
	}
}

// TestBlindOnFelixRecords: felix's own aggregated records (source and
// destination addresses, source port null, names "-") leave the rules
// that need those fields blind on every record, and a rule that matched
// or tests only present fields is never blind.
func TestBlindOnFelixRecords(t *testing.T) {
	s, err := Load([]byte(blindRules), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := calicoreal.Lines(t, calicoreal.FelixExample)
	counts := map[Blind]int{}
	var f codec.Flow
	var v Verdict
	for _, l := range lines {
		if err := codec.Decode(l, &f); err != nil {
			t.Fatal(err)
		}
		s.Judge(&f, &v)
		for _, b := range v.Blind {
			counts[b]++
		}
	}
	n := len(lines)
	want := map[Blind]int{
		{0, codec.SourceIP}: n, {0, codec.DestIP}: n,
		{1, codec.SourcePort}: n,
		// "pod" matches every record (no name is trusted-...): never blind;
		// "denied-public" never reaches dest_ip on these allowed flows.
		{6, codec.DestIP}: n,
	}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("blind counts over %d felix records:\n got %v\nwant %v", n, counts, want)
	}

	// A record with the fields is judged: not blind.
	if err := codec.Decode([]byte(`{"source_ip":"10.0.0.1","dest_ip":"10.0.0.2","source_port":40000,"dest_port":80}`), &f); err != nil {
		t.Fatal(err)
	}
	s.Judge(&f, &v)
	if len(v.Blind) != 0 {
		t.Errorf("blind on a full record: %v", v.Blind)
	}
}

func TestBlindSpotIndex(t *testing.T) {
	s, err := Load([]byte(blindRules), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spots := s.BlindSpots()
	rules := map[string]int{}
	for i, tr := range s.ThreatRules() {
		rules[tr.Name] = i
	}
	for i, b := range spots {
		f, ok := codec.FieldByName(b.Field)
		if !ok {
			t.Fatalf("field %q", b.Field)
		}
		if got := s.BlindSpotIndex(Blind{Rule: rules[b.Rule], Field: f}); got != i {
			t.Errorf("BlindSpotIndex(%s, %s) = %d, want %d", b.Rule, b.Field, got, i)
		}
	}
	if got := s.BlindSpotIndex(Blind{Rule: rules["mining"], Field: codec.DestIP}); got != -1 {
		t.Errorf("a field the rule does not need: %d", got)
	}
}
