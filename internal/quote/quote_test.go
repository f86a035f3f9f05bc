package quote

import (
	"strings"
	"testing"
)

func TestCut(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"a\"b", `"a\"b"`},
		{strings.Repeat("x", Max), `"` + strings.Repeat("x", Max) + `"`},
		{strings.Repeat("x", 50000), `"` + strings.Repeat("x", Max) + `"… (50000 bytes)`},
		// A character that straddles the cut is left out whole.
		{strings.Repeat("x", Max-1) + "é" + "yyy", `"` + strings.Repeat("x", Max-1) + `"… (44 bytes)`},
	} {
		if got := Cut(tc.in); got != tc.want {
			t.Errorf("Cut(%.20q…) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
