package fluentbit

import (
	"fmt"
	"strings"
	"testing"
)

// TestOnigmoConstructs: the last Onigmo constructs import with Fluent
// Bit's meaning (Onigmo, Ruby syntax, UTF-8), in every form: possessive
// quantifiers never give back, a{n,m}+ repeats the interval (Ruby syntax
// has no possessive interval), and POSIX brackets are Unicode-aware. The
// outcomes are Ruby 3.1's (Onigmo) on the same patterns and values.
func TestOnigmoConstructs(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		values  []string
		dropped []bool // by Exclude source_namespace <pattern>
	}{
		{`^[[:alpha:]]+$`, []string{"café", "cafe", "café1", "cafe\u0301", "Ⅻ"}, []bool{true, true, false, false, true}},
		{`^[[:digit:]]+$`, []string{"123", "٣", "1a"}, []bool{true, true, false}},
		{`[[:space:]]`, []string{"a b", "a\u00a0b", "ab"}, []bool{true, true, false}},
		{`^[[:upper:]][[:lower:]]+$`, []string{"Émile", "émile", "ÉMILE"}, []bool{true, false, false}},
		{`^a++$`, []string{"aaa", "aab"}, []bool{true, false}},
		{`^a*+a$`, []string{"aaa", "a"}, []bool{false, false}},
		{`^(ab)?+ab$`, []string{"abab", "ab"}, []bool{true, false}},
		{`^a{1,2}+$`, []string{"a", "aaaaa", "b"}, []bool{true, true, false}},
	} {
		for _, form := range []formName{classic, operator} {
			t.Run(fmt.Sprintf("%s/%s", tc.pattern, form), func(t *testing.T) {
				text := render(form, []prop{{"name", "grep"}, {"match", "*"}, {"exclude", "source_namespace " + tc.pattern}})
				_, set := load(t, "filters", text, Options{Tag: "flows"})
				var recs [][]byte
				for _, v := range tc.values {
					recs = append(recs, []byte(fmt.Sprintf(`{"source_namespace":%q}`, v)))
				}
				kept, _ := judge(t, set, recs)
				keptSet := map[int]bool{}
				for _, i := range kept {
					keptSet[i] = true
				}
				for i, v := range tc.values {
					if keptSet[i] == tc.dropped[i] {
						t.Errorf("%q: dropped %v, want %v", v, !keptSet[i], tc.dropped[i])
					}
				}
			})
		}
	}
}

// TestConfigMapWithoutFlowKey: a fluent-bit-filters ConfigMap with only a
// dns key filters no flow in the cluster; it imports for flows as rules
// that keep every flow, with a warning naming the keys it has.
func TestConfigMapWithoutFlowKey(t *testing.T) {
	const cm = `apiVersion: v1
kind: ConfigMap
metadata:
  name: fluent-bit-filters
  namespace: tigera-operator
data:
  dns: |
    - name: grep
      exclude: qname ^example
`
	res, err := Import("cm.yaml", []byte(cm), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rules) != 0 || len(res.Greps) != 0 {
		t.Errorf("rules %v from a ConfigMap without flows' key", res.Rules)
	}
	var warned bool
	for _, w := range res.Warnings {
		warned = warned || strings.Contains(w.Msg, `has no key "flow" (it has: dns)`) && strings.Contains(w.Msg, "every record is kept")
	}
	if !warned {
		t.Errorf("warnings %v", res.Warnings)
	}
	_, set := load(t, "cm.yaml", cm, Options{})
	if kept, _ := judge(t, set, [][]byte{[]byte(`{"source_namespace":"dev"}`)}); len(kept) != 1 {
		t.Error("a flow was dropped")
	}
}

// A key the operator does not read, missing, is still an error: nothing
// says what the cluster did with it.
func TestConfigMapMissingOtherKey(t *testing.T) {
	_, err := Import("f", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fluent-bit-filters}\ndata: {dns: x}\n"), Options{Key: "audit"})
	if err == nil || !strings.Contains(err.Error(), `has no key "audit" (it has: dns)`) {
		t.Errorf("error %v", err)
	}
}
