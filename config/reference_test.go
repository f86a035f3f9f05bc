package config

import (
	"strings"
	"testing"
)

// Every key is described for the reference page, with a type the page can
// name; the page itself is checked against the committed docs in
// cmd/flowsieve (TestConfigReferenceUpToDate).
func TestKeyInfosDescribeEveryKey(t *testing.T) {
	infos := KeyInfos()
	if len(infos) != len(Keys()) {
		t.Fatalf("%d infos for %d keys", len(infos), len(Keys()))
	}
	for _, k := range infos {
		if strings.TrimSpace(k.Usage) == "" {
			t.Errorf("%s: no description in the key table", k.Name)
		}
		switch k.Type {
		case "string", "list", "integer", "boolean", "duration":
		default:
			t.Errorf("%s: type %q has no name on the reference page", k.Name, k.Type)
		}
		if k.Env != envName(k.Name) || k.Flag != "--"+k.Name {
			t.Errorf("%s: env %s, flag %s", k.Name, k.Env, k.Flag)
		}
		if k.Secret && k.Default != "" {
			t.Errorf("%s: a secret's default is shown", k.Name)
		}
	}
}
