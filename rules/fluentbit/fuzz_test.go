package fluentbit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// fuzzRecords are judged by every filter the fuzzers import, by the rules
// engine and by the reference model of grep.c; the two must agree.
var fuzzRecords = [][]byte{
	[]byte(`{"log":"Using deprecated option","val":"1","source_namespace":"dev","dest_port":53}`),
	[]byte(`{"log":"Using option","val":1,"source_namespace":"default","a":{"b":["x","y"]}}`),
	[]byte(`{"log":["x"],"val":null,"a":"xyz","source_labels":{"labels":["app=x"]}}`),
	[]byte(`{"val":"abc\ndef","a":{"b":{"c":"x"}},"dest_namespace":"kube-system","b":true}`),
	[]byte(`{}`),
}

// simplePattern is a pattern on which Go's regexp and Onigmo agree, so the
// reference model may run it: ASCII, no escapes, classes, braces or
// group options.
func simplePattern(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] >= 0x80 || p[i] < 0x20 {
			return false
		}
	}
	return !strings.ContainsAny(p, `\[{`) && !strings.Contains(p, "(?")
}

func fuzzImport(t *testing.T, data []byte) {
	res, err := Import("f", data, Options{SkipUnsupported: true})
	if err != nil {
		return
	}
	out, err := res.RuleFile()
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(out, "imported.yaml")
	if err != nil {
		t.Fatalf("an accepted import does not pass rules check: %v\n%s", err, out)
	}
	for _, g := range res.Greps {
		for _, r := range g.Rules {
			if !simplePattern(r.Pat.Body) {
				return
			}
		}
	}
	var f codec.Flow
	var v rules.Verdict
	for _, rec := range fuzzRecords {
		if err := codec.Decode(rec, &f); err != nil {
			t.Fatal(err)
		}
		set.Judge(&f, &v)
		if ref := refKeep(t, res.Greps, rec); ref != v.Keep {
			t.Fatalf("record %s: rules keep %v, the reference model of grep.c %v\ninput:\n%s\nrules:\n%s", rec, v.Keep, ref, data, out)
		}
	}
}

func addSeeds(f *testing.F, forms ...formName) {
	for _, form := range forms {
		f.Add([]byte(render(form, []prop{{"Name", "grep"}, {"match", "*"}, {"Regex", "log deprecated"}, {"Exclude", "val 1"}})))
		f.Add([]byte(render(form, []prop{{"name", "grep"}, {"match", "flows"}, {"logical_op", "or"}, {"regex", "$a['b'][0] ^x"}, {"regex", "source_namespace /DEV/i"}})))
		f.Add([]byte(render(form, []prop{{"name", "grep"}, {"exclude", "dest_namespace ^kube"}}, []prop{{"name", "grep"}, {"logical_op", "AND"}, {"exclude", "a x"}, {"exclude", "log option$"}})))
	}
	for _, name := range []string{"fluent-bit-filters.yaml", "calico-docs.conf", "fluentd-filters.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzClassic feeds classic [FILTER] configs to the classic reader and the
// importer.
func FuzzClassic(f *testing.F) {
	addSeeds(f, classic)
	f.Add([]byte("[F]\n\tName grep\n\tMatch *\n\t\t[G]\n# c\n@SET a=b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		filters, err := ParseClassic("f", data)
		if err == nil {
			lines := strings.Count(string(data), "\n") + 1
			for _, fl := range filters {
				for _, p := range fl.Props {
					if p.Pos.Line < 1 || p.Pos.Line > lines {
						t.Fatalf("property %q at line %d of %d", p.Key, p.Pos.Line, lines)
					}
					if p.Key == "" || p.Key != strings.ToLower(p.Key) {
						t.Fatalf("key %q is not lowercase", p.Key)
					}
					if v, ok := trimSpace(p.Value); !ok || v != p.Value {
						t.Fatalf("value %q is not trimmed", p.Value)
					}
				}
			}
		}
		fuzzImport(t, data)
	})
}

// FuzzYAML feeds fluent-bit-filters values, ConfigMap manifests and Fluent
// Bit YAML configs to the importer.
func FuzzYAML(f *testing.F) {
	addSeeds(f, operator, yamlConf)
	f.Add([]byte("- {name: grep, Match: dns, exclude: [a b, c d], active: on}\n- name: grep\n  exclude: x y\n  exclude: z w\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzImport(t, data)
	})
}

// FuzzSemantics builds grep filters from the fuzzer's bytes (logical_op,
// rule kinds, keys and patterns from small sets that reach every code
// path), writes them in one of the three forms, imports them and checks
// the rules engine against the reference model of grep.c on records of
// every shape.
func FuzzSemantics(f *testing.F) {
	f.Add([]byte{0, 2, 1, 0, 0, 1, 3, 5, 1})
	f.Add([]byte{1, 3, 0, 1, 2, 2, 1, 3, 0, 4, 4})
	f.Add([]byte{2, 1, 2, 0, 7, 6, 1, 6, 8})
	keys := []string{"a", "log", "$a['b']", "$a['b'][0]", "$a[0]", "source_namespace", "dest_port", "$a.b", "$a['b']['c']"}
	pats := []string{"x", "^x", "x$", "^$", "y|x", "x*", "/X/i", "[xy]", ".", "/^x.y$/m", "^(?!x)", "(x)\\1"}
	ops := []string{"", "AND", "OR"}
	records := [][]byte{
		[]byte(`{"a":"x","log":"y","source_namespace":"x","dest_port":53}`),
		[]byte(`{"a":{"b":["x","y"]},"log":"x\ny"}`),
		[]byte(`{"a":{"b":"x"},"log":"",  "source_namespace":"X"}`),
		[]byte(`{"a":["x"],"log":1,"dest_port":"x"}`),
		[]byte(`{"a":{"b":{"c":"xx"}},"log":null,"source_namespace":""}`),
		[]byte(`{"a":"y","log":"yx","a.b":"x"}`),
		[]byte(`{}`),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		form := forms[int(data[0])%len(forms)]
		var filters [][]prop
		for i := 1; i+1 < len(data) && len(filters) < 3; {
			op := ops[int(data[i])%len(ops)]
			n := 1 + int(data[i+1])%4
			i += 2
			fl := []prop{{"name", "grep"}, {"match", "*"}}
			if op != "" {
				fl = append(fl, prop{"logical_op", op})
			}
			for ; n > 0 && i+2 < len(data); n-- {
				kind := "regex"
				if data[i]%2 == 1 {
					kind = "exclude"
				}
				fl = append(fl, prop{kind, keys[int(data[i+1])%len(keys)] + " " + pats[int(data[i+2])%len(pats)]})
				i += 3
			}
			filters = append(filters, fl)
		}
		text := render(form, filters...)
		res, err := Import("f", []byte(text), Options{Tag: "test"})
		if err != nil {
			if strings.Contains(err.Error(), "Both 'regex' and 'exclude'") || strings.Contains(err.Error(), "behaviour is undefined") {
				return
			}
			t.Fatalf("import: %v\n%s", err, text)
		}
		out, err := res.RuleFile()
		if err != nil {
			t.Fatal(err)
		}
		set, err := rules.Load(out, "imported.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var fl codec.Flow
		var v rules.Verdict
		for _, rec := range records {
			if err := codec.Decode(rec, &fl); err != nil {
				t.Fatal(err)
			}
			set.Judge(&fl, &v)
			if ref := refKeep(t, res.Greps, rec); ref != v.Keep {
				t.Fatalf("record %s: rules keep %v, the reference model of grep.c %v\ninput:\n%s\nrules:\n%s", rec, v.Keep, ref, text, out)
			}
		}
	})
}
