package configmap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lineOf returns the 1-based line of the first line of data containing s.
func lineOf(t *testing.T, data, s string) int {
	t.Helper()
	for i, l := range strings.Split(data, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in input", s)
	return 0
}

func TestParseManifests(t *testing.T) {
	for _, tc := range []struct {
		file, name string
		keys       []string
		// a line of the flow value and a text that must be on the manifest
		// line it maps to
		flowLine int
		flowText string
	}{
		{"fluent-bit-filters.yaml", "fluent-bit-filters", []string{"dns", "flow"}, 3, "exclude:"},
		{"fluentd-filters.yaml", "fluentd-filters", []string{"dns", "flow"}, 4, "key source_namespace"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "fluentbit", "testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !Looks(b) {
				t.Fatal("Looks = false for a manifest")
			}
			cms, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			cm, err := Find(cms, "")
			if err != nil {
				t.Fatal(err)
			}
			if cm.Name != tc.name || cm.Namespace != "tigera-operator" {
				t.Errorf("name %q/%q", cm.Namespace, cm.Name)
			}
			if got := strings.Join(cm.Keys(), ","); got != strings.Join(tc.keys, ",") {
				t.Errorf("keys %s, want %v", got, tc.keys)
			}
			e, ok := cm.Get("flow")
			if !ok {
				t.Fatal("no flow key")
			}
			valueLine := strings.Split(e.Value, "\n")[tc.flowLine-1]
			if !strings.Contains(valueLine, tc.flowText) {
				t.Fatalf("value line %d is %q", tc.flowLine, valueLine)
			}
			manifestLines := strings.Split(string(b), "\n")
			got := manifestLines[e.Line(tc.flowLine)-1]
			if strings.TrimSpace(got) != strings.TrimSpace(valueLine) {
				t.Errorf("value line %d maps to manifest line %d %q, want %q", tc.flowLine, e.Line(tc.flowLine), got, valueLine)
			}
			if e.KeyLine != lineOf(t, string(b), "  flow:") {
				t.Errorf("KeyLine %d", e.KeyLine)
			}
		})
	}
}

func TestParseForms(t *testing.T) {
	const list = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
  data: {flow: "x"}
- apiVersion: v1
  kind: Secret
  metadata: {name: s}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: b}
  data:
    flow: "one\ntwo"
`
	cms, err := Parse([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	if len(cms) != 2 {
		t.Fatalf("%d ConfigMaps", len(cms))
	}
	if _, err := Find(cms, ""); err == nil {
		t.Error("Find without a name picked one of two")
	}
	b, err := Find(cms, "b")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := b.Get("flow")
	if e.Value != "one\ntwo" || e.FirstLine != 0 || e.Line(2) != e.KeyLine {
		t.Errorf("quoted multi-line value: %+v", e)
	}
	a, _ := Find(cms, "a")
	if e, _ := a.Get("flow"); e.FirstLine != 7 {
		t.Errorf("one-line value at line %d, want 7", e.FirstLine)
	}

	const js = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"j"},"data":{"flow":"- name: grep\n  exclude: a b\n"}}`
	cms, err = Parse([]byte(js))
	if err != nil || cms[0].Name != "j" {
		t.Fatalf("json manifest: %v %+v", err, cms)
	}

	for _, bad := range []string{
		"- name: grep\n",
		"kind: Deployment\napiVersion: apps/v1\n",
		"apiVersion: v1\nkind: ConfigMap\ndata: [a]\n",
		"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: x\n  a: y\n",
		"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: {b: c}\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if _, err := Parse([]byte("- a\n")); !errors.Is(err, ErrNotManifest) {
		t.Errorf("a YAML list: %v, want ErrNotManifest", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"fluent-bit-filters.yaml", "fluentd-filters.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "fluentbit", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n  data: {a: b}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cms, err := Parse(b)
		if err != nil {
			return
		}
		for _, cm := range cms {
			lines := strings.Count(string(b), "\n") + 1
			for _, e := range cm.Data {
				n := strings.Count(e.Value, "\n") + 1
				for i := 1; i <= n; i++ {
					if l := e.Line(i); l < 1 || l > lines {
						t.Fatalf("key %q line %d maps to %d outside 1..%d", e.Key, i, l, lines)
					}
				}
			}
		}
	})
}
