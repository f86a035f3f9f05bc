package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
)

// loadRules writes the rule file (and feeds) into a temp dir and loads it.
func loadRules(t testing.TB, yaml string, feeds map[string]string) *Set {
	t.Helper()
	dir := t.TempDir()
	for name, body := range feeds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadFile(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

func decode(t testing.TB, rec string) *codec.Flow {
	t.Helper()
	f := new(codec.Flow)
	if err := codec.Decode([]byte(rec), f); err != nil {
		t.Fatalf("decode %q: %v", rec, err)
	}
	return f
}

// oneFilter makes a rule file with one exclude filter whose condition is
// cond (YAML flow syntax), so "dropped" means "the condition matched".
func oneFilter(cond string) string {
	return "filters:\n  - name: f\n    action: exclude\n    when: " + cond + "\n"
}

const textRec = "1528842551 1528842851 wep dev rails-81531* app=rails,tier=web wep prod memcached-38456* - 10.1.2.3 198.51.100.7 6 - 3000 7 3 4 out 154 61 70111 49404 allow"

const jsonRec = `{"start_time":1699374848,"source_ip":null,"source_name":"-","source_name_aggr":"frontend-755cdc7957-*",` +
	`"source_namespace":"default","source_port":null,"source_type":"wep","source_labels":{"labels":["app=frontend","pod-template-hash=755cdc7957"]},` +
	`"dest_ip":"2001:db8::5","dest_name_aggr":"pub","dest_namespace":"-","dest_port":80,"dest_type":"net","dest_labels":{"labels":[]},` +
	`"dest_domains":["api.example.com","cdn.example.net"],"proto":"tcp","action":"deny","reporter":"src",` +
	`"policies":{"all_policies":["0|__PROFILE__|__PROFILE__.kns.default|allow|0"]},"bytes_in":2540,"bytes_out":12000000,` +
	`"process_id":"21842","original_source_ips":["192.0.2.9"],"rtt":1.5,"team":"payments","meta":{"owner":{"name":"ann"},"tags":["a","b"]}}`

func TestConditions(t *testing.T) {
	feeds := map[string]string{"c2.txt": "# sample\n198.51.100.0/24\n2001:db8::5\n  192.0.2.9  # one host\n"}
	feedDecl := "feeds:\n  - {name: c2, file: c2.txt}\n"
	tests := []struct {
		name string
		cond string
		rec  string
		want bool
	}{
		// regex (RE2, unanchored) and its fast paths
		{"regex literal contains", `{field: source_namespace, regex: ev}`, textRec, true},
		{"regex prefix", `{field: dest_name_aggr, regex: ^memcached}`, textRec, true},
		{"regex prefix miss", `{field: dest_name_aggr, regex: ^cached}`, textRec, false},
		{"regex equality", `{field: source_namespace, regex: ^dev$}`, textRec, true},
		{"regex equality miss", `{field: source_namespace, regex: ^de$}`, textRec, false},
		{"regex alternation set", `{field: dest_namespace, regex: ^(prod|staging)$}`, textRec, true},
		{"regex real", `{field: dest_name_aggr, regex: "^mem[a-z]+-\\d+\\*$"}`, textRec, true},
		{"regex on number matches its text", `{field: dest_port, regex: ^30+$}`, textRec, true},
		{"regex on null never matches", `{field: source_ip, regex: ""}`, jsonRec, false},
		{"regex on absent never matches", `{field: host, regex: ""}`, jsonRec, false},
		{"regex on array element", `{field: dest_domains, regex: \.net$}`, jsonRec, true},
		{"regex on array miss", `{field: dest_domains, regex: ^evil}`, jsonRec, false},
		{"regex case-insensitive", `{field: action, regex: "(?i)^DENY$"}`, jsonRec, true},
		// equals / prefix / suffix / contains / in
		{"equals", `{field: action, equals: deny}`, jsonRec, true},
		{"equals miss", `{field: action, equals: allow}`, jsonRec, false},
		{"equals number", `{field: dest_port, equals: 80}`, jsonRec, true},
		{"equals string holding a number", `{field: process_id, equals: 21842}`, jsonRec, true},
		{"prefix", `{field: source_name_aggr, prefix: frontend-}`, jsonRec, true},
		{"suffix", `{field: source_name_aggr, suffix: "-*"}`, jsonRec, true},
		{"contains", `{field: source_name_aggr, contains: 755cdc}`, jsonRec, true},
		{"in", `{field: dest_port, in: [53, 80, 443]}`, jsonRec, true},
		{"in miss", `{field: dest_port, in: [53, 443]}`, jsonRec, false},
		{"in strings", `{field: proto, in: [udp, tcp]}`, jsonRec, true},
		{"text proto is a name", `{field: proto, equals: tcp}`, textRec, true},
		// cidr
		{"cidr v4", `{field: source_ip, cidr: 10.0.0.0/8}`, textRec, true},
		{"cidr v4 list miss", `{field: source_ip, cidr: [192.168.0.0/16, 172.16.0.0/12]}`, textRec, false},
		{"cidr bare ip", `{field: dest_ip, cidr: 198.51.100.7}`, textRec, true},
		{"cidr v6", `{field: dest_ip, cidr: "2001:db8::/32"}`, jsonRec, true},
		{"cidr null ip", `{field: source_ip, cidr: 0.0.0.0/0}`, jsonRec, false},
		{"cidr on address list", `{field: original_source_ips, cidr: 192.0.2.0/24}`, jsonRec, true},
		// feeds
		{"feed dest", `{field: dest_ip, in_feed: c2}`, textRec, true},
		{"feed source miss", `{field: source_ip, in_feed: c2}`, textRec, false},
		{"feed v6 host", `{field: dest_ip, in_feed: c2}`, jsonRec, true},
		{"feed list field", `{field: original_source_ips, in_feed: c2}`, jsonRec, true},
		// numbers
		{"range", `{field: dest_port, range: 1000-5000}`, textRec, true},
		{"range inclusive", `{field: dest_port, range: 3000-3000}`, textRec, true},
		{"range miss", `{field: dest_port, range: 1-1023}`, textRec, false},
		{"gt units", `{field: bytes_out, gt: 10MB}`, jsonRec, true},
		{"gt units miss", `{field: bytes_out, gt: 12MB}`, jsonRec, false},
		{"ge exact", `{field: bytes_out, ge: 12MB}`, jsonRec, true},
		{"gt binary units", `{field: bytes_out, gt: 11MiB}`, jsonRec, true},
		{"lt and gt", `{field: bytes_in, gt: 1k, lt: 3k}`, jsonRec, true},
		{"le miss", `{field: bytes_in, le: 2539}`, jsonRec, false},
		{"float value", `{key: rtt, gt: 1.25}`, jsonRec, true},
		{"number test on a string does not match", `{field: process_id, gt: 1}`, jsonRec, false},
		{"number test on null does not match", `{field: source_port, lt: 100000}`, jsonRec, false},
		// absent
		{"absent null", `{field: source_ip, absent: true}`, jsonRec, true},
		{"absent missing", `{field: host, absent: true}`, jsonRec, true},
		{"absent text dash", `{field: source_port, absent: true}`, textRec, true},
		{"present", `{field: dest_ip, absent: false}`, jsonRec, true},
		{"present miss", `{field: source_ip, absent: false}`, jsonRec, false},
		// labels
		{"label present", `{field: source_labels, label: app}`, jsonRec, true},
		{"label present miss", `{field: dest_labels, label: app}`, jsonRec, false},
		{"label equals", `{field: source_labels, label: {app: frontend}}`, jsonRec, true},
		{"label equals all", `{field: source_labels, label: {app: frontend, pod-template-hash: x}}`, jsonRec, false},
		{"label text", `{field: source_labels, label: {tier: web}}`, textRec, true},
		{"label value regex", `{field: source_labels, label: app, regex: ^front}`, jsonRec, true},
		{"label value in", `{field: source_labels, label: app, in: [rails, web]}`, textRec, true},
		{"regex on labels sees each k=v", `{field: source_labels, regex: ^app=frontend$}`, jsonRec, true},
		// keys that are not Calico fields
		{"extra key", `{key: team, equals: payments}`, jsonRec, true},
		{"extra key missing", `{key: squad, absent: true}`, jsonRec, true},
		{"accessor nested", `{key: $.meta.owner.name, equals: ann}`, jsonRec, true},
		{"accessor bracket", `{key: "$['meta']['tags'][1]", equals: b}`, jsonRec, true},
		{"accessor negative index", `{key: "$.meta.tags[-1]", equals: b}`, jsonRec, true},
		{"accessor into a string", `{key: $.team.x, absent: true}`, jsonRec, false},
		{"accessor labels", `{key: "$.source_labels.labels[0]", prefix: app=}`, jsonRec, true},
		// combinators
		{"all", `{all: [{field: action, equals: deny}, {field: dest_port, equals: 80}]}`, jsonRec, true},
		{"all miss", `{all: [{field: action, equals: deny}, {field: dest_port, equals: 81}]}`, jsonRec, false},
		{"any", `{any: [{field: action, equals: allow}, {field: dest_port, equals: 80}]}`, jsonRec, true},
		{"any miss", `{any: [{field: action, equals: allow}, {field: dest_port, equals: 81}]}`, jsonRec, false},
		{"not", `{not: {field: action, equals: allow}}`, jsonRec, true},
		{"nested", `{all: [{any: [{field: dest_ip, in_feed: c2}, {field: source_ip, in_feed: c2}]}, {not: {field: dest_port, range: 1-1023}}]}`, textRec, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := loadRules(t, feedDecl+oneFilter(tc.cond), feeds)
			var v Verdict
			s.Judge(decode(t, tc.rec), &v)
			if got := !v.Keep; got != tc.want {
				t.Errorf("%s on record: matched=%v, want %v", tc.cond, got, tc.want)
			}
			if !v.Keep && v.DropRule != 0 {
				t.Errorf("DropRule = %d, want 0", v.DropRule)
			}
		})
	}
}

func TestFilterOrderAndInclude(t *testing.T) {
	s := loadRules(t, `
filters:
  - name: keep-only-tcp
    action: include
    when: {field: proto, equals: tcp}
  - name: drop-dev
    action: exclude
    when: {field: source_namespace, equals: dev}
  - name: drop-port-3000
    action: exclude
    when: {field: dest_port, equals: 3000}
`, nil)
	tests := []struct {
		rec  string
		keep bool
		drop string
	}{
		{textRec, false, "drop-dev"}, // first deciding filter in file order
		{strings.Replace(textRec, " 6 - 3000", " 17 - 3000", 1), false, "keep-only-tcp"},
		{strings.Replace(textRec, "wep dev rails", "wep prod rails", 1), false, "drop-port-3000"},
		{strings.Replace(strings.Replace(textRec, "wep dev rails", "wep prod rails", 1), "- 3000", "- 3001", 1), true, ""},
	}
	for _, tc := range tests {
		var v Verdict
		s.Judge(decode(t, tc.rec), &v)
		if v.Keep != tc.keep {
			t.Errorf("%s: keep=%v want %v", tc.rec, v.Keep, tc.keep)
			continue
		}
		if !v.Keep && s.FilterNames()[v.DropRule] != tc.drop {
			t.Errorf("%s: dropped by %s, want %s", tc.rec, s.FilterNames()[v.DropRule], tc.drop)
		}
		if v.Keep && v.DropRule != -1 {
			t.Errorf("kept with DropRule %d", v.DropRule)
		}
	}
}

func TestThreatsRunOnDroppedFlows(t *testing.T) {
	s := loadRules(t, `
feeds:
  - {name: c2, file: c2.txt}
threats:
  - name: c2-traffic
    severity: critical
    when: {any: [{field: source_ip, in_feed: c2}, {field: dest_ip, in_feed: c2}]}
  - name: big
    severity: low
    description: more than 60 kB in
    when: {field: bytes_in, gt: 60kB}
  - name: never
    severity: high
    when: {field: dest_port, equals: 1}
filters:
  - name: drop-dev
    action: exclude
    when: {field: source_namespace, equals: dev}
`, map[string]string{"c2.txt": "198.51.100.0/24\n"})
	var v Verdict
	f := decode(t, textRec)
	s.Judge(f, &v)
	if v.Keep || s.FilterNames()[v.DropRule] != "drop-dev" {
		t.Fatalf("want dropped by drop-dev, got %+v", v)
	}
	if len(v.Threats) != 2 {
		t.Fatalf("threats = %+v, want c2-traffic and big", v.Threats)
	}
	h := v.Threats[0]
	if s.ThreatRules()[h.Rule].Name != "c2-traffic" || h.Feed != "c2" || h.Field != codec.DestIP ||
		h.Addr.String() != "198.51.100.7" || h.Reason != "dest_ip in feed c2" {
		t.Errorf("c2 hit = %+v", h)
	}
	if h := v.Threats[1]; s.ThreatRules()[h.Rule].Name != "big" || h.Reason != "more than 60 kB in" || h.Field != codec.BytesIn {
		t.Errorf("big hit = %+v", h)
	}
	out := string(AppendThreatJSON(nil, f, s, &v))
	for _, want := range []string{
		`"source_namespace":"dev"`,
		`"flowsieve":{"rules_version":"` + s.Version() + `","threats":[{"rule":"c2-traffic","severity":"critical","feed":"c2","field":"dest_ip","addr":"198.51.100.7","reason":"dest_ip in feed c2"},{"rule":"big","severity":"low","field":"bytes_in","reason":"more than 60 kB in"}],"dropped_by":"drop-dev"}}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("threat JSON lacks %s:\n%s", want, out)
		}
	}
	// The verdict is reused: a second judgement resets it.
	s.Judge(decode(t, jsonRec), &v)
	if !v.Keep || v.DropRule != -1 || len(v.Threats) != 0 {
		t.Errorf("reused verdict = %+v", v)
	}
}

func TestJudgeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := loadRules(t, `
feeds:
  - {name: c2, file: c2.txt}
threats:
  - {name: c2, severity: high, when: {any: [{field: dest_ip, in_feed: c2}, {field: original_source_ips, in_feed: c2}]}}
filters:
  - {name: a, action: exclude, when: {field: dest_domains, regex: "^evil\\.|bad"}}
  - {name: b, action: exclude, when: {key: "$.meta.owner.name", equals: bob}}
  - {name: c, action: exclude, when: {field: source_labels, label: {app: x}}}
  - {name: d, action: exclude, when: {field: bytes_out, range: 1-10}}
`, map[string]string{"c2.txt": "2001:db8::/32\n"})
	f := decode(t, jsonRec)
	var v Verdict
	s.Judge(f, &v)
	if n := testing.AllocsPerRun(100, func() { s.Judge(f, &v) }); n != 0 {
		t.Errorf("Judge allocates %v times per flow", n)
	}
}

func TestKeyNamesTheSpelling(t *testing.T) {
	// felix once wrote startTime; field: start_time is the Calico field
	// whatever the spelling, key: names the record's own key (as fluentd).
	rec := `{"startTime":1528842551,"dest_port":53}`
	for _, tc := range []struct {
		cond string
		want bool
	}{
		{`{field: start_time, equals: 1528842551}`, true},
		{`{key: start_time, equals: 1528842551}`, false},
		{`{key: startTime, equals: 1528842551}`, true},
	} {
		s := loadRules(t, oneFilter(tc.cond), nil)
		var v Verdict
		s.Judge(decode(t, rec), &v)
		if got := !v.Keep; got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.cond, got, tc.want)
		}
	}
}

func TestThreatReasonFallback(t *testing.T) {
	s := loadRules(t, "threats:\n  - {name: not-allowed, severity: low, when: {not: {field: action, equals: allow}}}\n", nil)
	var v Verdict
	s.Judge(decode(t, jsonRec), &v)
	if len(v.Threats) != 1 || v.Threats[0].Reason != "the condition of not-allowed holds" || v.Threats[0].Field != codec.NumFields {
		t.Errorf("hits %+v", v.Threats)
	}
}

// compat: fluent-bit (the Fluent Bit importer's target): only string values
// are tested; numbers, booleans, null, objects and arrays never match; a
// record accessor ignores the subkeys of a top-level string, but a string
// reached below the top level with a step left fails the lookup.
func TestCompatFluentBit(t *testing.T) {
	rec := `{"dest_port":53,"source_namespace":"dev","t":true,"n":null,"labels":{"labels":["app=x"]},"meta":{"name":"ann","tags":["a"]}}`
	tests := []struct {
		key, regex string
		want       bool
	}{
		{"source_namespace", "^dev$", true},
		{"dest_port", "^53$", false}, // a number never matches
		{"t", "true", false},
		{"n", "", false},
		{"missing", "", false},
		{"labels", "app", false}, // an object never matches
		{"$.meta.name", "^ann$", true},
		{"$.meta.tags[0]", "^a$", true},
		{"$.source_namespace.sub", "^dev$", true}, // subkeys of a string are ignored
		{"$.meta.nope", "", false},
		{"$.meta.name.sub", "^ann$", false}, // below the top level every step must exist (flb_ra_key)
	}
	for _, tc := range tests {
		s := loadRules(t, "filters:\n  - {name: f, action: exclude, compat: fluent-bit, when: {key: \""+tc.key+"\", regex: \""+tc.regex+"\"}}\n", nil)
		var v Verdict
		s.Judge(decode(t, rec), &v)
		if got := !v.Keep; got != tc.want {
			t.Errorf("key %s regex %q: matched %v, want %v", tc.key, tc.regex, got, tc.want)
		}
	}
}
