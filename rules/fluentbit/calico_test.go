package fluentbit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
	"github.com/flowsieve/flowsieve/rules"
	"github.com/flowsieve/flowsieve/rules/configmap"
	"github.com/flowsieve/flowsieve/rules/fluentd"
)

// calicoReal returns the path of a copy of a real Calico file
// (internal/calicoreal).
func calicoReal(t testing.TB, name string) string {
	t.Helper()
	return calicoreal.Path(t, name)
}

// realRecords returns every line of the real felix JSON flow logs, and
// variants of the first ones with the fields the documented filters look
// at set to what they filter out, so that both outcomes are exercised on
// real records.
func realRecords(t *testing.T) (records [][]byte, undecodable int) {
	t.Helper()
	for _, name := range []string{"flows-example-felix.jsonl", "flows-felix-testdata.jsonl",
		"flows-observability-clinic-multitool.jsonl", "flows-fake-log-generator-test.jsonl"} {
		data, err := os.ReadFile(calicoReal(t, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			var f codec.Flow
			if codec.Decode(l, &f) != nil {
				undecodable++ // felix's test data ends with a truncated line
				continue
			}
			records = append(records, l)
		}
	}
	variants := []map[string]any{
		{"source_namespace": "dev"},
		{"dest_namespace": "devops"},
		{"source_namespace": "prod", "dest_namespace": "dev-2"},
		{"dest_name_aggr": "nginx-internet-6c9d5-*", "source_name_aggr": "pub"},
		{"dest_name_aggr": "nginx-internet-6c9d5-*"},
		{"source_name_aggr": "pub"},
		{"dest_name_aggr": "my-nginx-internet-*", "source_name_aggr": "pub"},
		{"source_namespace": 7},            // a number: never a match for Fluent Bit
		{"source_namespace": []any{"dev"}}, // an array: likewise
	}
	n := len(records)
	for i := 0; i < n; i += 13 {
		for _, v := range variants {
			var m map[string]any
			if err := json.Unmarshal(records[i], &m); err != nil {
				t.Fatal(err)
			}
			for k, x := range v {
				m[k] = x
			}
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			records = append(records, b)
		}
	}
	return records, undecodable
}

// productPageDrops is what the product page says the two documented
// filters drop, worked out with string functions: flows whose source or
// destination namespace contains "dev" (the pattern is unanchored), and
// flows from the internet (source_name_aggr containing "pub") to pods named
// nginx-internet-*. Fluent Bit only looks at string values.
func productPageDrops(t *testing.T, record []byte) bool {
	var m map[string]any
	if err := json.Unmarshal(record, &m); err != nil {
		t.Fatal(err)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	if strings.Contains(str("source_namespace"), "dev") || strings.Contains(str("dest_namespace"), "dev") {
		return true
	}
	return strings.HasPrefix(str("dest_name_aggr"), "nginx-internet") && strings.Contains(str("source_name_aggr"), "pub")
}

// The documented filters (calico-real/filters-flow-tigera-docs.conf)
// rewritten for Fluent Bit: in the fluent-bit-filters ConfigMap of
// testdata/ and as a classic config. Both import, pass rules check and
// judge the real records and the documented text record as the product
// page says; the rule that drops a record names the line it came from.
func TestDocumentedFilters(t *testing.T) {
	records, bad := realRecords(t)
	if bad != 1 {
		t.Errorf("%d real records do not decode, want 1 (the truncated line)", bad)
	}
	text, err := os.ReadFile(calicoReal(t, "flows-text-tigera-docs.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"fluent-bit-filters.yaml", "calico-docs.conf"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			res, set := load(t, file, string(data), Options{})
			if len(res.Warnings) != 0 {
				t.Errorf("warnings on the documented filters: %v", res.Warnings)
			}
			lines := strings.Split(string(data), "\n")
			var f codec.Flow
			var v rules.Verdict
			drops := 0
			for i, r := range records {
				if err := codec.Decode(r, &f); err != nil {
					t.Fatal(err)
				}
				set.Judge(&f, &v)
				want := productPageDrops(t, r)
				if v.Keep == want {
					t.Errorf("record %d: kept %v, the product page says dropped %v\n%s", i, v.Keep, want, r)
					continue
				}
				if ref := refKeep(t, res.Greps, r); ref != v.Keep {
					t.Errorf("record %d: the reference model keeps %v, the rules %v", i, ref, v.Keep)
				}
				if !v.Keep {
					drops++
					checkSource(t, set, v.DropRule, lines, file, r)
				}
			}
			if drops == 0 || drops == len(records) {
				t.Errorf("%d of %d records dropped: the test does not exercise both outcomes", drops, len(records))
			}
			if err := codec.Decode(bytes.TrimSpace(text), &f); err != nil {
				t.Fatal(err)
			}
			set.Judge(&f, &v)
			if v.Keep {
				t.Error("the documented text record (namespace dev) is kept")
			} else {
				checkSource(t, set, v.DropRule, lines, file, text)
			}
		})
	}
}

// checkSource checks that the dropping rule's source names a line of the
// input that holds the key of a field the record matches on.
func checkSource(t *testing.T, set *rules.Set, rule int, lines []string, file string, record []byte) {
	t.Helper()
	src := set.Filters()[rule].Source
	name, nums, ok := strings.Cut(src, ":")
	if !ok || name != file {
		t.Fatalf("source %q does not name %s", src, file)
	}
	for _, n := range strings.Split(nums, ",") {
		var ln int
		for _, c := range n {
			ln = ln*10 + int(c-'0')
		}
		if ln < 1 || ln > len(lines) {
			t.Fatalf("source %q: no such line", src)
		}
		l := lines[ln-1]
		if !strings.Contains(l, "_namespace") && !strings.Contains(l, "_name_aggr") {
			t.Errorf("record %s dropped by %s, whose line %q is not one of the filters' rules", record, src, l)
		}
	}
}

// The two ConfigMap manifests of testdata/ hold the same documented
// filters, in fluentd syntax (fluentd-filters, read by the fluentd
// importer) and Fluent Bit syntax (fluent-bit-filters): the two imports
// judge every real record alike, since every field those filters test is
// a string in Calico's records (the two tools differ only on other types).
func TestBothConfigMaps(t *testing.T) {
	records, _ := realRecords(t)
	data, err := os.ReadFile(filepath.Join("testdata", "fluentd-filters.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import("fluentd-filters.yaml", data, Options{}); err == nil || !strings.Contains(err.Error(), "import-fluentd") {
		t.Errorf("importing fluentd-filters as Fluent Bit: %v, want a pointer to import-fluentd", err)
	}
	cms, err := configmap.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	flow, ok := cms[0].Get("flow")
	if !ok {
		t.Fatal("no flow key")
	}
	fd, err := fluentd.Import([]byte(flow.Value), "fluentd-filters.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fdSet, err := rules.Load(fd.YAML, "fluentd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fbData, err := os.ReadFile(filepath.Join("testdata", "fluent-bit-filters.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, fbSet := load(t, "fluent-bit-filters.yaml", string(fbData), Options{})
	var f codec.Flow
	var a, b rules.Verdict
	for i, r := range records {
		if err := codec.Decode(r, &f); err != nil {
			t.Fatal(err)
		}
		fdSet.Judge(&f, &a)
		fbSet.Judge(&f, &b)
		var m map[string]any
		_ = json.Unmarshal(r, &m)
		_, isString := m["source_namespace"].(string)
		if a.Keep != b.Keep && isString {
			t.Errorf("record %d: fluentd import keeps %v, Fluent Bit import keeps %v\n%s", i, a.Keep, b.Keep, r)
		}
	}
}
