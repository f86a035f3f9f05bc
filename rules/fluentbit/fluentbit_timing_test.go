package fluentbit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// BenchmarkJudgeImported judges the real felix records with the documented
// filters imported from the fluent-bit-filters ConfigMap (decoding
// included, as in the pipeline).
func BenchmarkJudgeImported(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "fluent-bit-filters.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	res, err := Import("fluent-bit-filters.yaml", data, Options{})
	if err != nil {
		b.Fatal(err)
	}
	out, err := res.RuleFile()
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.Load(out, "imported.yaml")
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(calicoReal(b, "flows-example-felix.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	var records [][]byte
	size := 0
	for _, l := range bytes.Split(raw, []byte("\n")) {
		if len(l) > 0 {
			records = append(records, l)
			size += len(l)
		}
	}
	var f codec.Flow
	var v rules.Verdict
	b.SetBytes(int64(size / len(records)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := codec.Decode(records[i%len(records)], &f); err != nil {
			b.Fatal(err)
		}
		set.Judge(&f, &v)
		i++
	}
}

// BenchmarkImport measures reading and importing the ConfigMap manifest.
func BenchmarkImport(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "fluent-bit-filters.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Import("fluent-bit-filters.yaml", data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
