package fluentd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
	"github.com/flowsieve/flowsieve/rules"
)

// calicoReal returns the path of a copy of a real Calico file
// (internal/calicoreal).
func calicoReal(t testing.TB, name string) string {
	t.Helper()
	return calicoreal.Path(t, name)
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

// The product page's two examples, imported from the documented fluentd
// filters, on the documented text record and on real felix records.
func TestProductPageExamples(t *testing.T) {
	conf, err := os.ReadFile(calicoReal(t, "filters-flow-tigera-docs.conf"))
	if err != nil {
		t.Fatal(err)
	}
	s := importSet(t, string(conf))
	if got := s.FilterNames(); len(got) != 2 {
		t.Fatalf("imported %v, want two rules", got)
	}
	for i, want := range []string{"filters.conf:4", "filters.conf:16"} {
		if got := s.Filters()[i].Source; got != want {
			t.Errorf("rule %d source %q, want %q", i, got, want)
		}
	}

	// The documented text record is in the dev namespace: example 1 drops it.
	text := readLines(t, calicoReal(t, "flows-text-tigera-docs.log"))
	var f codec.Flow
	var v rules.Verdict
	if err := codec.Decode([]byte(text[0]), &f); err != nil {
		t.Fatal(err)
	}
	s.Judge(&f, &v)
	if v.Keep || v.DropRule != 0 {
		t.Errorf("documented text record: keep=%v drop=%d, want dropped by rule 0", v.Keep, v.DropRule)
	}

	// The real records are all in "default" and none goes to nginx-internet:
	// nothing is dropped. Then variants of them that the examples target.
	recs := readLines(t, calicoReal(t, "flows-example-felix.jsonl"))
	if got := kept(t, s, recs); len(got) != len(recs) {
		t.Errorf("real records: kept %d of %d, want all", len(got), len(recs))
	}
	var variants []string
	for i, r := range recs {
		switch i % 6 {
		case 0:
			r = strings.Replace(r, `"source_namespace":"default"`, `"source_namespace":"dev"`, 1)
		case 1:
			r = strings.Replace(r, `"dest_namespace":"default"`, `"dest_namespace":"devops"`, 1) // unanchored: also dropped
		case 2:
			r = strings.Replace(r, `"source_name_aggr":"`, `"source_name_aggr":"pub`, 1)
			r = regexp.MustCompile(`"dest_name_aggr":"[^"]*"`).ReplaceAllString(r, `"dest_name_aggr":"nginx-internet-6d8f7c9d4-*"`)
		case 3:
			r = regexp.MustCompile(`"dest_name_aggr":"[^"]*"`).ReplaceAllString(r, `"dest_name_aggr":"nginx-internet-6d8f7c9d4-*"`)
		case 4:
			r = regexp.MustCompile(`"dest_name_aggr":"[^"]*"`).ReplaceAllString(r, `"dest_name_aggr":"my-nginx-internet"`)
			r = strings.Replace(r, `"source_name_aggr":"`, `"source_name_aggr":"pub`, 1)
		}
		variants = append(variants, r)
	}
	keptIdx := kept(t, s, variants)
	// The same decision reasoned out independently, on encoding/json maps.
	rule1 := regexp.MustCompile(`dev`)
	rule2a, rule2b := regexp.MustCompile(`(?m)^nginx-internet`), regexp.MustCompile(`pub`)
	var want []int
	for i, r := range variants {
		var m map[string]any
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			t.Fatal(err)
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		drop := rule1.MatchString(str("source_namespace")) || rule1.MatchString(str("dest_namespace")) ||
			rule2a.MatchString(str("dest_name_aggr")) && rule2b.MatchString(str("source_name_aggr"))
		if !drop {
			want = append(want, i)
		}
	}
	if len(want) == len(variants) || len(want) == 0 {
		t.Fatalf("variants do not exercise the rules: %d of %d kept", len(want), len(variants))
	}
	if len(keptIdx) != len(want) {
		t.Fatalf("kept %d variants, independent reasoning keeps %d", len(keptIdx), len(want))
	}
	for i := range want {
		if keptIdx[i] != want[i] {
			t.Fatalf("variant %d: decisions differ", want[i])
		}
	}
	t.Logf("variants: %d records, %d dropped", len(variants), len(variants)-len(want))
}
