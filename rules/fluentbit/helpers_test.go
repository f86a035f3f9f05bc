package fluentbit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// prop is one Fluent Bit filter property for a test case; each case is
// written out in the forms under test.
type prop struct{ k, v string }

// classicText writes one [FILTER] section per filter.
func classicText(filters ...[]prop) string {
	var b strings.Builder
	for _, f := range filters {
		b.WriteString("[FILTER]\n")
		for _, p := range f {
			fmt.Fprintf(&b, "    %s %s\n", p.k, p.v)
		}
	}
	return b.String()
}

// operatorText writes the filters as a fluent-bit-filters value: one map
// per filter, a key given several times written as a YAML list (the way a
// user gives several values to one property).
func operatorText(filters ...[]prop) string {
	var b strings.Builder
	for _, f := range filters {
		var order []string
		vals := map[string][]string{}
		for _, p := range f {
			if _, ok := vals[p.k]; !ok {
				order = append(order, p.k)
			}
			vals[p.k] = append(vals[p.k], p.v)
		}
		for i, k := range order {
			lead := "  "
			if i == 0 {
				lead = "- "
			}
			if len(vals[k]) == 1 {
				fmt.Fprintf(&b, "%s%s: %s\n", lead, k, yamlString(vals[k][0]))
				continue
			}
			fmt.Fprintf(&b, "%s%s:\n", lead, k)
			for _, v := range vals[k] {
				fmt.Fprintf(&b, "    - %s\n", yamlString(v))
			}
		}
	}
	return b.String()
}

// yamlConfigText writes a Fluent Bit YAML config with the filters.
func yamlConfigText(filters ...[]prop) string {
	var b strings.Builder
	b.WriteString("service:\n  flush: 1\npipeline:\n  inputs:\n    - name: tail\n      path: /var/log/calico/flowlogs/flows.log\n      tag: flows\n  filters:\n")
	for _, f := range filters {
		for i, p := range f {
			lead := "      "
			if i == 0 {
				lead = "    - "
			}
			fmt.Fprintf(&b, "%s%s: %s\n", lead, p.k, yamlString(p.v))
		}
	}
	return b.String()
}

func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// load imports text and loads the rule file it writes, as rules check does.
func load(t *testing.T, name, text string, opt Options) (*Result, *rules.Set) {
	t.Helper()
	res, err := Import(name, []byte(text), opt)
	if err != nil {
		t.Fatalf("import: %v\ninput:\n%s", err, text)
	}
	out, err := res.RuleFile()
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(out, "imported.yaml")
	if err != nil {
		t.Fatalf("rules check of the imported file: %v\n%s", err, out)
	}
	return res, set
}

// judge runs every record through set and returns the kept ones' indexes
// and, for each dropped record, the name of the rule that dropped it.
func judge(t *testing.T, set *rules.Set, records [][]byte) (kept []int, droppedBy []string) {
	t.Helper()
	var f codec.Flow
	var v rules.Verdict
	for i, r := range records {
		if err := codec.Decode(r, &f); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		set.Judge(&f, &v)
		if v.Keep {
			kept = append(kept, i)
			droppedBy = append(droppedBy, "")
		} else {
			droppedBy = append(droppedBy, set.FilterNames()[v.DropRule])
		}
	}
	return kept, droppedBy
}

// refKeep is an independent model of Fluent Bit: grep_filter_data (legacy)
// and grep_filter_data_and_or transliterated from plugins/filter_grep/grep.c,
// applied filter after filter, on the record decoded by encoding/json.
// Patterns in the tests are plain RE2-compatible ASCII, where Go's regexp
// with (?m) reads them as Onigmo does.
func refKeep(t *testing.T, greps []*Grep, record []byte) bool {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(record))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("record %s: %v", record, err)
	}
	for _, g := range greps {
		if !refFilter(t, g, m) {
			return false
		}
	}
	return true
}

func refFilter(t *testing.T, g *Grep, m map[string]any) bool {
	match := func(r Rule) bool {
		s, ok := refValue(m, r.Acc)
		if !ok {
			return false
		}
		pat := strings.Replace(r.Pat.Ruby, "(?m", "(?s", 1)
		if re, err := regexp.Compile("(?m)" + pat); err == nil {
			return re.MatchString(s)
		}
		// Look-around and back-references: a backtracking engine.
		re, err := regexp2.Compile(pat, regexp2.Multiline)
		if err != nil {
			t.Fatalf("test pattern %q: %v", r.Pat.Ruby, err)
		}
		matched, err := re.MatchString(s)
		if err != nil {
			t.Fatal(err)
		}
		return matched
	}
	if g.Op == Legacy {
		for _, r := range g.Rules {
			if !match(r) {
				if r.Kind == Regex {
					return false
				}
			} else {
				return r.Kind == Regex
			}
		}
		return true
	}
	found := false
	var last Rule
	for _, r := range g.Rules {
		last = r
		found = match(r)
		if g.Op == Or && found || g.Op == And && !found {
			break
		}
	}
	if last.Kind == Regex {
		return found
	}
	return !found
}

// refValue is flb_ra_key_regex_match's value lookup: the top-level key;
// subkeys only below a map or an array, and then all of them must resolve;
// a string top-level value ignores the subkeys; only strings match.
func refValue(m map[string]any, a Accessor) (string, bool) {
	v, ok := m[a.Key]
	if !ok {
		return "", false
	}
	switch v.(type) {
	case map[string]any, []any:
		if len(a.Subs) == 0 {
			return "", false
		}
		for _, s := range a.Subs {
			switch c := v.(type) {
			case map[string]any:
				if s.IsIndex {
					return "", false
				}
				if v, ok = c[s.Str]; !ok {
					return "", false
				}
			case []any:
				if !s.IsIndex || s.Index >= len(c) {
					return "", false
				}
				v = c[s.Index]
			default:
				return "", false
			}
		}
	}
	s, ok := v.(string)
	return s, ok
}
