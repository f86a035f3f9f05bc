package fluentbit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// TestLint checks each warning and note: its line, its words, and that the
// imported rules still behave as Fluent Bit does (the warning explains, it
// changes nothing).
func TestLint(t *testing.T) {
	port53 := []byte(`{"source_namespace":"default","dest_namespace":"kube-system","dest_port":53,"proto":"udp","source_name_aggr":"frontend-*"}`)
	web := []byte(`{"source_namespace":"default","dest_namespace":"shop","dest_port":8080,"proto":"tcp","source_name_aggr":"public-lb"}`)
	for _, tc := range []struct {
		name     string
		text     string
		opt      Options
		warnings []string // "line: words"
		notes    []string
		skipped  []string
		keep     []bool // for port53, web
	}{
		{name: "regex on a number drops everything",
			text:     "- name: grep\n  regex: dest_port ^53$\n",
			warnings: []string{"2: regex dest_port ^53$ never matches: dest_port is a number in Calico flow logs", "so this filter drops every flow log"},
			keep:     []bool{false, false}},
		{name: "exclude on a number drops nothing",
			text:     "- name: grep\n  exclude: dest_port ^53$\n",
			warnings: []string{"2: exclude dest_port ^53$ never matches", "so it never drops anything"},
			keep:     []bool{true, true}},
		{name: "never evaluated after a legacy regex",
			text: "[FILTER]\n    Name grep\n    Match flows\n    Regex proto ^udp$\n    Exclude dest_namespace kube\n",
			warnings: []string{"5: exclude dest_namespace kube is never evaluated: without logical_op, the regex rule of line 4 (regex proto ^udp$)",
				"reads no rule after it"},
			keep: []bool{true, false}},
		{name: "the operator runs excludes first",
			text:     "- name: grep\n  regex: proto ^udp$\n  exclude: dest_namespace kube\n",
			warnings: []string{"3: exclude dest_namespace kube is written after regex proto ^udp$ (line 2), but the operator renders each filter with its keys sorted"},
			keep:     []bool{false, false}},
		{name: "a pattern RE2 cannot run",
			text:     "- name: grep\n  exclude: source_name_aggr ^(?!frontend)\n",
			warnings: []string{"2: exclude source_name_aggr ^(?!frontend): pattern \"^(?!frontend)\" uses Onigmo features RE2 cannot run"},
			keep:     []bool{true, false}},
		{name: "unknown logical_op",
			text:     "- name: grep\n  logical_op: xor\n  exclude: [proto ^udp$]\n",
			warnings: []string{`2: logical_op "xor" is neither AND, OR nor legacy: Fluent Bit silently uses legacy mode`},
			keep:     []bool{false, true}},
		{name: "a key written twice",
			text:     "- name: grep\n  exclude: proto ^udp$\n  exclude: proto ^tcp$\n",
			warnings: []string{"2: filter 1 of key flow writes exclude twice: the operator keeps only the one of line 3"},
			keep:     []bool{true, false}},
		{name: "an object without subkeys",
			text:     "- name: grep\n  exclude: source_labels app=frontend\n",
			warnings: []string{"2: exclude source_labels app=frontend never matches: source_labels is an object in Calico flow logs"},
			keep:     []bool{true, true}},
		{name: "subkeys into an object are fine",
			text: "- name: grep\n  exclude: $source_labels['labels'][0] ^app=\n",
			keep: []bool{true, true}},
		{name: "subkeys of a string are ignored",
			text:     "- name: grep\n  exclude: $proto['x'] ^udp$\n",
			warnings: []string{"2: exclude $proto['x'] ^udp$: proto holds a string in Calico flow logs; Fluent Bit ignores the subkeys"},
			keep:     []bool{false, true}},
		{name: "white space kept in the pattern",
			text:     "- name: grep\n  exclude:\n    - \"proto  udp\"\n",
			warnings: []string{`3: exclude proto  udp: the pattern " udp" begins or ends with white space`},
			keep:     []bool{true, true}},
		{name: "addresses are null when aggregated",
			text:     "- name: grep\n  regex: dest_ip ^10\\.\n",
			warnings: []string{"2: regex dest_ip ^10\\.: dest_ip is null in aggregated flow logs", "so this rule drops those flows"},
			keep:     []bool{false, false}},
		{name: "not a Calico field",
			text:     "- name: grep\n  regex: namespace dev\n",
			warnings: []string{"2: regex namespace dev: namespace is not a field of Calico flow logs", "so this filter drops every flow log"},
			keep:     []bool{false, false}},
		{name: "a fluentd block in fluent-bit-filters",
			text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fluent-bit-filters\ndata:\n  flow: |\n" +
				"    <filter flows>\n      @type grep\n      <exclude>\n        key proto\n        pattern udp\n      </exclude>\n    </filter>\n",
			warnings: []string{"7: the operator skips key flow whole (and filters nothing with it)", "import that with flowsieve rules import-fluentd"},
			keep:     []bool{true, true}},
		{name: "another tag",
			text:  "- name: grep\n  match: dns\n  exclude: qname cluster\n- name: grep\n  exclude: proto udp\n",
			notes: []string{"1: filter 1 of key flow (grep, match dns) does not apply to tag flows: imported as nothing"},
			keep:  []bool{false, true}},
		{name: "Match in capitals does not stop the operator's match",
			text: "- name: grep\n  Match: dns\n  exclude: proto udp\n",
			keep: []bool{false, true}},
		{name: "active: no is false for the operator",
			text:  "- name: grep\n  active: no\n  exclude: proto udp\n",
			notes: []string{"1: filter 1 of key flow is switched off (active false)"},
			keep:  []bool{true, true}},
		{name: "active: no is a string in a Fluent Bit YAML config",
			text: "pipeline:\n  filters:\n    - name: grep\n      match: flows\n      active: no\n      exclude: proto udp\n",
			keep: []bool{false, true}},
		{name: "dns logs have their own fields",
			text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fluent-bit-filters\ndata:\n  dns: |\n    - name: grep\n      regex: qname \\.com$\n",
			opt:  Options{Key: "dns"},
			keep: []bool{false, false}},
		{name: "the operator scopes by the key, not by --tag",
			text:  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fluent-bit-filters\ndata:\n  dns: |\n    - name: grep\n      exclude: proto udp\n",
			opt:   Options{Key: "dns", Tag: "flows"},
			notes: []string{"7: filter 1 of key dns (grep, match dns (added by the operator)) does not apply to tag flows"},
			keep:  []bool{true, true}},
		{name: "unsupported filters skipped",
			text:    "- name: modify\n  add: x y\n- name: grep\n  exclude: proto udp\n- name: lua\n  match: dns\n  call: f\n",
			opt:     Options{SkipUnsupported: true},
			skipped: []string{`1: filter 1 of key flow: filter "modify" skipped`},
			notes:   []string{"5: filter 3 of key flow (lua, match dns) does not apply to tag flows"},
			keep:    []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, set := load(t, "f", tc.text, tc.opt)
			check := func(kind string, got []Finding, want []string) {
				t.Helper()
				joined := make([]string, len(got))
				for i, f := range got {
					joined[i] = f.String()
				}
				all := strings.Join(joined, "\n")
				for _, w := range want {
					if !strings.Contains(all, w) {
						t.Errorf("%s lack %q; got:\n%s", kind, w, all)
					}
				}
				if len(want) == 0 && len(got) > 0 {
					t.Errorf("unexpected %s:\n%s", kind, all)
				}
			}
			check("warnings", res.Warnings, prefixed(tc.warnings))
			check("notes", res.Notes, prefixed(tc.notes))
			check("skipped", res.Skipped, prefixed(tc.skipped))
			for i, r := range [][]byte{port53, web} {
				var f codec.Flow
				var v rules.Verdict
				if err := codec.Decode(r, &f); err != nil {
					t.Fatal(err)
				}
				set.Judge(&f, &v)
				if v.Keep != tc.keep[i] {
					t.Errorf("record %d: kept %v, Fluent Bit keeps %v", i, v.Keep, tc.keep[i])
				}
			}
		})
	}
}

// prefixed turns "N: words" into "f:N: words"; other strings stay.
func prefixed(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		if n, rest, ok := strings.Cut(w, ": "); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			out[i] = "f:" + n + ": " + rest
		} else {
			out[i] = w
		}
	}
	return out
}

// Fluent Bit refuses these configurations; so does the import, naming the
// place.
func TestRefused(t *testing.T) {
	for _, tc := range []struct{ name, text, err string }{
		{"not grep", "- name: modify\n  add: x y\n", `f:1: filter 1 of key flow: filter "modify" is not supported`},
		{"no name", "[FILTER]\n    Match flows\n    Exclude a b\n", "f:1: [FILTER] section 1: the filter is missing the 'name' property"},
		{"rule without a pattern", "- name: grep\n  exclude: proto\n", "f:2: filter 1 of key flow: grep: invalid regex"},
		{"mixed kinds with logical_op", "- name: grep\n  logical_op: or\n  regex: a b\n  exclude: c d\n", "Both 'regex' and 'exclude' are set"},
		{"bad accessor", "- name: grep\n  exclude: $a[x] y\n", `invalid record accessor "$a[x]"`},
		{"regex capture reference", "- name: grep\n  exclude: $1 y\n", "regex capture reference"},
		{"empty list", "- name: grep\n  exclude: []\n", "the list is empty"},
		{"map value", "- name: grep\n  exclude: {a: b}\n", "cannot hold a map"},
		{"null entry", "- name: grep\n  exclude: a b\n- null\n", "filter 2 of key flow is null"},
		{"environment variable", "- name: grep\n  exclude: a ${X}\n", "environment variable"},
		{"bad log_level", "- name: grep\n  log_level: loud\n  exclude: a b\n", "log_level"},
		{"include", "@INCLUDE other.conf\n[FILTER]\n    Name grep\n", "f:1: @INCLUDE other.conf"},
		{"classic without value", "[FILTER]\n    Name grep\n    Match\n", "f:3: undefined value"},
		{"classic indentation", "[FILTER]\n    Name grep\n  Match flows\n", "f:3: invalid indentation level"},
		{"fluentd manifest", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fluentd-filters}\ndata: {flow: x}\n", "import-fluentd"},
		{"nothing known", "hello: world\n", "not a Fluent Bit config"},
		{"yaml includes", "includes:\n  - filters.yaml\npipeline:\n  inputs: []\n", "f:1: includes: included files are not followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import("f", []byte(tc.text), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// A pattern Onigmo accepts but flowsieve cannot run with the same meaning
// is refused at its line, rather than written into a rule file that
// rules check would reject.
func TestUntranslatable(t *testing.T) {
	_, err := Import("f", []byte("- name: grep\n  exclude: proto ud[[:graph:]]p\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "f:2: exclude proto ud[[:graph:]]p: flowsieve cannot run this rule") {
		t.Errorf("error %v", err)
	}
}

// docs/migrating.md's migration example: the warnings it shows are these.
func TestMigrationExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "migration-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, set := load(t, "migration-example.yaml", string(data), Options{})
	want := []string{
		"migration-example.yaml:15: exclude dest_port ^53$ never matches: dest_port is a number in Calico flow logs, and Fluent Bit's grep matches only string values; so it never drops anything",
		"migration-example.yaml:15: exclude dest_port ^53$ is written after regex proto ^tcp$ (line 14), but the operator renders each filter with its keys sorted",
	}
	if len(res.Warnings) != len(want) {
		t.Fatalf("warnings %v", res.Warnings)
	}
	for i, w := range want {
		if !strings.HasPrefix(res.Warnings[i].String(), w) {
			t.Errorf("warning %d: %s\nwant %s", i, res.Warnings[i], w)
		}
	}
	// A DNS flow (udp to port 53) is dropped by the proto rule, not by the
	// dest_port exclude, as in the cluster.
	var f codec.Flow
	var v rules.Verdict
	if err := codec.Decode([]byte(`{"source_namespace":"default","dest_namespace":"kube-system","proto":"udp","dest_port":53}`), &f); err != nil {
		t.Fatal(err)
	}
	set.Judge(&f, &v)
	if v.Keep || set.Filters()[v.DropRule].Source != "migration-example.yaml:14" {
		t.Errorf("kept %v, dropped by %+v", v.Keep, set.Filters()[max(v.DropRule, 0)])
	}
}

// Fluent Bit counts repeated properties case-sensitively but reads them
// ignoring case: in the operator form "Logical_Op" and "logical_op" are
// two keys, both pass, and the first in sorted order wins; a classic
// config lowercases keys, so the same two lines are refused.
func TestLogicalOpSpellings(t *testing.T) {
	res, err := Import("f", []byte("- name: grep\n  logical_op: AND\n  Logical_Op: OR\n  regex: [proto udp, proto tcp]\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g := res.Greps[0]; g.Op != Or || g.OpProp.Pos.Line != 3 {
		t.Errorf("logical_op %s from line %d, want OR from line 3", g.Op, g.OpProp.Pos.Line)
	}
	_, err = Import("f", []byte("[FILTER]\n    Name grep\n    Match flows\n    logical_op AND\n    Logical_Op OR\n    Regex proto udp\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "'logical_op' is set 2 times") {
		t.Errorf("classic: %v", err)
	}
}

// Each form is recognised by its content.
func TestForms(t *testing.T) {
	for _, tc := range []struct {
		text string
		form Form
	}{
		{"[FILTER] # grep\n    Name grep\n    Match flows\n    Exclude a b\n", FormClassic},
		{"[{name: grep, exclude: a b}]\n", FormOperator},
		{"- name: grep\n  exclude: a b\n", FormOperator},
		{"pipeline:\n  filters:\n    - name: grep\n      match: flows\n      exclude: a b\n", FormYAML},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fluent-bit-filters}\ndata:\n  flow: |\n    - name: grep\n      exclude: a b\n", FormConfigMap},
		{`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"fluent-bit-filters"},"data":{"flow":"- name: grep\n  exclude: a b\n"}}`, FormConfigMap},
	} {
		res, err := Import("f", []byte(tc.text), Options{})
		if err != nil {
			t.Errorf("%q: %v", tc.text, err)
			continue
		}
		if res.Form != tc.form || len(res.Rules) != 1 {
			t.Errorf("%q: read as %s with %d rules, want %s with 1", tc.text, res.Form, len(res.Rules), tc.form)
		}
	}
}
