package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every error, in order
	}{
		{"yaml syntax", "filters: [", []string{"rules.yaml:1: did not find expected node content"}},
		{"unknown top key", "filter: []\n", []string{`rules.yaml:1:1: unknown key "filter" in the rule file (want one of feeds, threats, filters)`}},
		{"unknown field", oneFilter("{field: protcol, equals: tcp}"), []string{
			`rules.yaml:4:19: rule "f": unknown field "protcol" (for a key that is not a Calico field, write key: protcol)`}},
		{"misspelt test", oneFilter("{field: proto, equal: tcp}"), []string{
			`rules.yaml:4:26: rule "f": unknown key "equal" in a condition`,
		}},
		{"several errors", `
filters:
  - name: a
    action: exlude
    when: {field: proto, regex: "a("}
  - name: a
    action: include
    when: {field: dest_port, gt: 10XB}
threats:
  - name: t
    severity: urgent
    when: {field: dest_ip, in_feed: nope}
`, []string{
			`rules.yaml:11:15: rule "t": unknown severity "urgent" (want one of low, medium, high, critical)`,
			`rules.yaml:12:37: rule "t": unknown feed "nope" (declare it under feeds)`,
			`rules.yaml:4:13: rule "a": unknown action "exlude" (want exclude, include, sample or cap)`,
			`rules.yaml:5:33: rule "a": regex "a(": missing closing )`,
			`rules.yaml:6:11: rule "a": duplicate rule name (first used on line 3)`,
			`rules.yaml:8:34: rule "a": gt: unknown unit "XB" in "10XB" (use k, M, G, T with optional B, or Ki, Mi, Gi, Ti)`,
		}},
		{"two tests", oneFilter("{field: proto, equals: tcp, prefix: t}"), []string{
			`rules.yaml:4:11: rule "f": one test per condition (gt/ge/lt/le may be combined): found equals, prefix; combine conditions with all`}},
		{"combined keys", oneFilter("{any: [{field: proto, equals: tcp}], field: proto}"), []string{
			`rules.yaml:4:48: rule "f": "any" cannot be combined with other keys in one condition; nest it`}},
		{"empty any", oneFilter("{any: []}"), []string{`rules.yaml:4:17: rule "f": any needs at least one condition`}},
		{"label on wrong field", oneFilter("{field: proto, label: app}"), []string{
			`rules.yaml:4:33: rule "f": label conditions apply to source_labels or dest_labels`}},
		{"cidr on a number", oneFilter("{field: dest_port, cidr: 10.0.0.0/8}"), []string{
			`rules.yaml:4:36: rule "f": dest_port does not hold IP addresses`}},
		{"bad cidr", oneFilter("{field: dest_ip, cidr: [10.0.0.0/33]}"), []string{
			`rules.yaml:4:35: rule "f": cidr: "10.0.0.0/33": prefix length 33 is out of range (0 to 32 for IPv4)`}},
		{"bad range", oneFilter("{field: dest_port, range: 2000-1000}"), []string{
			`rules.yaml:4:37: rule "f": range "2000-1000": low end is above the high end`}},
		{"compat regex only", "filters:\n  - {name: f, action: exclude, compat: fluentd, when: {key: a, equals: b}}\n", []string{
			`rules.yaml:2:55: rule "f": compat rules test values with regex only (as the grep filters do)`}},
		{"compat refuses a nested quantifier", "filters:\n  - {name: f, action: exclude, compat: fluentd, when: {key: a, regex: a**}}\n", []string{
			`rules.yaml:2:71: rule "f": regex "a**": at offset 2: nested quantifier`}},
		{"missing when", "threats:\n  - {name: t, severity: low}\n", []string{`rules.yaml:2:5: rule "t": missing when (the condition)`}},
		{"bad name", "filters:\n  - {name: 'a b', action: exclude, when: {key: a, absent: true}}\n", []string{
			`rules.yaml:2:12: name "a b": use letters, digits and _ . : - (starting with a letter or digit)`}},
		{"feed missing file", "feeds:\n  - {name: x, file: nope.txt}\n", []string{"nope.txt: no such file or directory"}},
		{"empty", "", []string{"rules.yaml: empty rule file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "rules.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFile(path)
			if err == nil {
				t.Fatalf("loaded; want errors %q", tc.want)
			}
			errs := Errors(err)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, e := range errs {
				got := strings.ReplaceAll(e.Error(), dir+string(filepath.Separator), "")
				if !strings.Contains(got, tc.want[i]) {
					t.Errorf("error %d:\n got  %s\n want %s", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestFeedErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	feed := "10.0.0.1\n# comment\n\nnot-an-ip\n10.0.0.0/8 # ok\n300.1.1.1\n"
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte(feed), 0o644)
	path := filepath.Join(dir, "rules.yaml")
	os.WriteFile(path, []byte("feeds:\n  - {name: f, file: f.txt}\nthreats:\n  - {name: t, severity: low, when: {field: dest_ip, in_feed: f}}\n"), 0o644)
	_, err := LoadFile(path)
	errs := Errors(err)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), `f.txt:4: feed "f": "not-"… (9 bytes): not an IP address or CIDR (unable to parse IP)`) ||
		!strings.Contains(errs[1].Error(), `f.txt:6: feed "f": "300."… (9 bytes): not an IP address or CIDR (IPv4 field has value >255)`) {
		t.Errorf("errors = %v", err)
	}
	// The threat rule's reference to the broken feed is not a second error.
	for _, e := range errs {
		if strings.Contains(e.Error(), "unknown feed") {
			t.Errorf("spurious %v", e)
		}
	}
}

func TestVersionCoversFeeds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	feedPath := filepath.Join(dir, "f.txt")
	os.WriteFile(path, []byte("feeds:\n  - {name: f, file: f.txt}\n"), 0o644)
	os.WriteFile(feedPath, []byte("10.0.0.1\n"), 0o644)
	a, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LoadFile(path)
	os.WriteFile(feedPath, []byte("10.0.0.2\n"), 0o644)
	c, _ := LoadFile(path)
	if a.Version() != b.Version() || a.Version() == c.Version() || len(a.Version()) != 8 {
		t.Errorf("versions %s %s %s", a.Version(), b.Version(), c.Version())
	}
	if f := c.Feeds(); len(f) != 1 || f[0].Entries != 1 || f[0].File != feedPath {
		t.Errorf("feeds %+v", f)
	}
}

func TestSampleRules(t *testing.T) {
	s, err := LoadFile(filepath.Join("..", "config", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		drop    string
		threats []string
	}
	tests := []struct {
		rec string
		want
	}{
		// The product page's record: dev namespace.
		{"1528842551 1528842851 wep dev rails-81531* - wep dev memcached-38456* - - - 6 - 3000 7 3 4 out 154 61 70111 49404 allow",
			want{"drop-dev-namespace", nil}},
		{"1528842551 1528842851 net - pub - wep prod nginx-internet-7d9f* - 203.0.113.9 10.0.0.5 6 51000 443 1 1 0 dst 10 10 1000 1000 allow",
			want{"drop-internet-to-nginx-internet", nil}},
		{`{"source_namespace":"prod","dest_ip":"198.51.100.7","dest_port":443,"action":"allow"}`,
			want{"", []string{"c2-traffic"}}},
		{`{"source_namespace":"dev","source_ip":"203.0.113.200","dest_ip":"10.1.1.1","dest_port":4444,"action":"allow"}`,
			want{"drop-dev-namespace", []string{"c2-traffic", "mining-pool-port"}}},
		{`{"source_namespace":"prod","dest_ip":"8.8.8.8","dest_port":53,"action":"deny"}`,
			want{"", []string{"denied-egress-public"}}},
		{`{"source_namespace":"prod","dest_ip":"10.2.3.4","dest_port":53,"action":"deny"}`, want{"", nil}},
		{`{"source_namespace":"prod","dest_ip":null,"dest_name_aggr":"pub","dest_port":53,"action":"deny"}`,
			want{"", []string{"denied-egress-public"}}},
		{`{"source_namespace":"devops","dest_ip":"fd00::1","action":"deny"}`, want{"", nil}},
	}
	var v Verdict
	for _, tc := range tests {
		s.Judge(decode(t, tc.rec), &v)
		drop := ""
		if !v.Keep {
			drop = s.FilterNames()[v.DropRule]
		}
		var threats []string
		for _, h := range v.Threats {
			threats = append(threats, s.ThreatRules()[h.Rule].Name)
		}
		if drop != tc.drop || strings.Join(threats, ",") != strings.Join(tc.threats, ",") {
			t.Errorf("%s:\n dropped by %q, threats %v\n want %q, %v", tc.rec, drop, threats, tc.drop, tc.threats)
		}
	}
}
