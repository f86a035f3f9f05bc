package fluentd

import (
	"testing"

	"github.com/flowsieve/flowsieve/internal/calicoreal"

	"github.com/flowsieve/flowsieve/rules"
)

// FuzzImportFluentd: any input either imports into a rule file that loads
// (what `rules check` checks) or fails with errors naming lines; it never
// panics.
func FuzzImportFluentd(f *testing.F) {
	for _, name := range []string{"filters-flow-tigera-docs.conf", "filters-dns-calico-docs.conf"} {
		f.Add(calicoreal.Read(f, name))
	}
	for _, s := range []string{
		"<filter **>\n @type grep\n regexp1 message  foo\n exclude2 a /b/\n</filter>\n",
		"<filter **>\n@type grep\n<and>\n<exclude>\nkey $.a.b[0]\npattern /x/im\n</exclude>\n</and>\n<or>\n<regexp>\nkey \"$['a']\"\npattern 'a\\'b'\n</regexp>\n</or>\n</filter>\n",
		"<filter a.**>\n  @type grep\n  @id my filter\n  <regexp>\n    key k # comment\n    pattern \"a\\.b\\n\" # c\n  </regexp>\n</filter>\n",
		"<match **>\n</match>\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Import(data, "filters.conf")
		if err != nil {
			return
		}
		if _, err := rules.Load(res.YAML, "imported.yaml"); err != nil {
			t.Fatalf("import succeeded but its output does not load: %v\n%s", err, res.YAML)
		}
	})
}
