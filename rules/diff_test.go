package rules

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestDiffSets(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"a.txt": "198.51.100.7\n203.0.113.0/24\n10.9.9.9\n",
		"b.txt": "# same as a.txt, other order, a comment\n10.9.9.9\n198.51.100.7\n203.0.113.0/24\n",
		"c.txt": "198.51.100.7\n192.0.2.1\n192.0.2.2\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const base = `feeds:
  - {name: c2, file: a.txt}
threats:
  - {name: c2, severity: high, when: {field: dest_ip, in_feed: c2}}
  - {name: mining, severity: medium, when: {field: dest_port, in: [3333, 4444]}}
filters:
  - {name: drop-dev, action: exclude, when: {field: source_namespace, equals: dev}}
  - {name: drop-qa, action: exclude, when: {field: source_namespace, equals: qa}}
`
	for _, tc := range []struct {
		name, new string
		want      Diff
		summary   string
	}{
		{"identical", base, Diff{}, "no change"},
		{"layout, comments, key order, feed file order", `# reformatted
feeds:
  - name: c2
    file: b.txt
threats:
  - name: mining          # reordered: threat rules all run
    severity: medium
    when:
      in: [3333, 4444]
      field: dest_port
  - {severity: high, name: c2, when: {in_feed: c2, field: dest_ip}}
filters:
  - name: drop-dev
    action: exclude
    when:
      field: source_namespace
      equals: "dev"
  - {name: drop-qa, action: exclude, when: {field: source_namespace, equals: qa}}
`, Diff{}, "no change"},
		{"filter added in front, one removed", `feeds:
  - {name: c2, file: a.txt}
threats:
  - {name: c2, severity: high, when: {field: dest_ip, in_feed: c2}}
  - {name: mining, severity: medium, when: {field: dest_port, in: [3333, 4444]}}
filters:
  - {name: drop-dns, action: exclude, when: {field: dest_port, equals: 53}}
  - {name: drop-qa, action: exclude, when: {field: source_namespace, equals: qa}}
`, Diff{Filters: []RuleChange{{Name: "drop-dns", Kind: Added}, {Name: "drop-dev", Kind: Removed}}},
			"filters +1 -1 ~0"},
		{"condition, action and order changed", `feeds:
  - {name: c2, file: a.txt}
threats:
  - {name: c2, severity: high, when: {field: dest_ip, in_feed: c2}}
  - {name: mining, severity: medium, when: {field: dest_port, in: [3333, 4444]}}
filters:
  - {name: drop-qa, action: include, when: {field: source_namespace, equals: qa}}
  - {name: drop-dev, action: exclude, when: {field: source_namespace, regex: ^dev}}
`, Diff{Filters: []RuleChange{
			{Name: "drop-qa", Kind: Changed, Fields: []FieldChange{{"action", "exclude", "include"}, {"position", "2", "1"}}},
			{Name: "drop-dev", Kind: Changed, Fields: []FieldChange{
				{"when", "{equals: dev, field: source_namespace}", "{field: source_namespace, regex: ^dev}"},
				{"position", "1", "2"}}},
		}}, "filters +0 -0 ~2"},
		{"threat severity and condition, feed entries", `feeds:
  - {name: c2, file: c.txt}
threats:
  - {name: c2, severity: critical, when: {field: dest_ip, in_feed: c2}}
  - {name: mining, severity: medium, when: {field: dest_port, in: [3333, 4444, 5555]}}
filters:
  - {name: drop-dev, action: exclude, when: {field: source_namespace, equals: dev}}
  - {name: drop-qa, action: exclude, when: {field: source_namespace, equals: qa}}
`, Diff{
			Threats: []RuleChange{
				{Name: "c2", Kind: Changed, Fields: []FieldChange{{"severity", "high", "critical"}}},
				{Name: "mining", Kind: Changed, Fields: []FieldChange{{"when", "{field: dest_port, in: [3333, 4444]}", "{field: dest_port, in: [3333, 4444, 5555]}"}}},
			},
			Feeds: []FeedChange{{Name: "c2", Kind: Changed, Added: 2, Removed: 2}},
		}, "threat rules +0 -0 ~2, feeds +0 -0 ~1"},
		{"feed and threat rule renamed", `feeds:
  - {name: bad-ips, file: a.txt}
threats:
  - {name: c2-traffic, severity: high, when: {field: dest_ip, in_feed: bad-ips}}
  - {name: mining, severity: medium, when: {field: dest_port, in: [3333, 4444]}}
filters:
  - {name: drop-dev, action: exclude, when: {field: source_namespace, equals: dev}}
  - {name: drop-qa, action: exclude, when: {field: source_namespace, equals: qa}}
`, Diff{
			Threats: []RuleChange{{Name: "c2-traffic", Kind: Added}, {Name: "c2", Kind: Removed}},
			Feeds:   []FeedChange{{Name: "bad-ips", Kind: Added, Added: 3}, {Name: "c2", Kind: Removed, Removed: 3}},
		}, "threat rules +1 -1 ~0, feeds +1 -1 ~0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, err := Load([]byte(base), filepath.Join(dir, "old.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			new, err := Load([]byte(tc.new), filepath.Join(dir, "new.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got := DiffSets(old, new)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DiffSets:\n got %+v\nwant %+v", got, tc.want)
			}
			if s := got.Summary(); s != tc.summary {
				t.Errorf("Summary = %q, want %q", s, tc.summary)
			}
			if got.Same() != (tc.summary == "no change") {
				t.Errorf("Same = %v", got.Same())
			}
		})
	}
}

// TestDiffSampleAndCap: a sample or cap filter's parameters are part of
// what it decides.
func TestDiffSampleAndCap(t *testing.T) {
	load := func(rate, max string) *Set {
		s, err := Load([]byte(`filters:
  - {name: thin, action: sample, rate: `+rate+`, when: {field: dest_port, equals: 53}}
  - {name: cap, action: cap, per: [source_namespace], max_per_sec: `+max+`, when: {field: proto, equals: tcp}}
`), "r.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	d := DiffSets(load("0.1", "100"), load("0.25", "100"))
	want := []RuleChange{{Name: "thin", Kind: Changed, Fields: []FieldChange{{"rate", "0.1", "0.25"}}}}
	if !reflect.DeepEqual(d.Filters, want) {
		t.Errorf("rate: %+v", d.Filters)
	}
	d = DiffSets(load("0.1", "100"), load("0.1", "50"))
	want = []RuleChange{{Name: "cap", Kind: Changed, Fields: []FieldChange{{"max_per_sec", "100", "50"}}}}
	if !reflect.DeepEqual(d.Filters, want) || !reflect.DeepEqual(d.Lines(), []string{"filter ~ cap: max_per_sec"}) {
		t.Errorf("max_per_sec: %+v %q", d.Filters, d.Lines())
	}
}
