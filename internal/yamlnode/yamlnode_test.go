package yamlnode

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func node(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestScalarAndBool(t *testing.T) {
	for _, tc := range []struct {
		src, scalarErr, boolErr string
	}{
		{"true", "", ""},
		{"yes", "", `x must be true or false, not "yes"`},
		{"[a]", "x must be a single value, not a list", "x must be a single value, not a list"},
		{"{a: 1}", "x must be a single value, not a mapping", "x must be a single value, not a mapping"},
		{"~", "x must be a single value, not empty", "x must be a single value, not empty"},
		{strings.Repeat("s", 100), "", `x must be true or false, not "` + strings.Repeat("s", 40) + `"… (100 bytes)`},
	} {
		n := node(t, tc.src)
		_, err := Scalar(n, "x")
		if got := errString(err); got != tc.scalarErr {
			t.Errorf("Scalar(%s): %q, want %q", tc.src, got, tc.scalarErr)
		}
		_, err = Bool(n, "x")
		if got := errString(err); got != tc.boolErr {
			t.Errorf("Bool(%s): %q, want %q", tc.src, got, tc.boolErr)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
