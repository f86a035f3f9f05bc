package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
)

// FuzzLoad feeds arbitrary rule files to the loader: it must return a Set
// or errors, never panic, and a Set it returns must judge records.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "config", "rules.yaml")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		oneFilter("{field: source_namespace, regex: ^dev$}"),
		oneFilter("{any: [{field: dest_port, range: 1-1023}, {not: {field: dest_ip, cidr: [10.0.0.0/8]}}]}"),
		oneFilter("{field: source_labels, label: {app: x}}"),
		oneFilter("{key: \"$.meta.tags[-1]\", equals: b}"),
		"filters:\n  - {name: f, action: exclude, compat: fluentd, when: {key: a, regex: \"(?i)x(?=y)\"}}\n",
		"filters:\n  - {name: f, action: include, compat: fluent-bit, when: {key: \"$.a.b\", regex: \"^x\"}}\n",
		"threats:\n  - {name: t, severity: low, when: {field: bytes_out, gt: 10MB, le: 1GiB}}\n",
		"feeds:\n  - {name: c2, file: c2.txt}\nthreats:\n  - {name: t, severity: high, when: {field: dest_ip, in_feed: c2}}\n",
		"a: &x [*x]\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "c2.txt"), []byte("198.51.100.0/24\n"), 0o644)
	recs := []string{textRec, jsonRec}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Load(data, filepath.Join(dir, "rules.yaml"))
		if err != nil {
			if s != nil {
				t.Fatal("both a Set and an error")
			}
			if len(Errors(err)) == 0 {
				t.Fatal("an error with no problems in it")
			}
			return
		}
		var fl codec.Flow
		var v Verdict
		for _, r := range recs {
			if codec.Decode([]byte(r), &fl) == nil {
				s.Judge(&fl, &v)
				if !v.Keep && (v.DropRule < 0 || v.DropRule >= len(s.FilterNames())) {
					t.Fatalf("DropRule %d out of range", v.DropRule)
				}
				_ = AppendThreatJSON(nil, &fl, s, &v)
			}
		}
	})
}

// FuzzRubyPattern: translating any fluentd pattern either fails with a
// reason or yields a pattern that compiles; matching never panics.
func FuzzRubyPattern(f *testing.F) {
	for _, p := range []string{"dev", "^nginx-internet", `\d+\s\h`, `a{,3}`, `(?<n>a)\k<n>`, `(?=x)`, `[^\]a-z\d]`, `\u{41 42}`, `(?i-m:a.b)`, `a*+`, `[[:alpha:]]`} {
		f.Add(p, "nginx-internet 12 ab")
	}
	f.Fuzz(func(t *testing.T, pat, val string) {
		m, err := compileRuby(pat)
		if err != nil {
			return
		}
		m.match(val)
	})
}
