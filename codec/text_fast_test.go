package codec

import "testing"

// TestDecodeTextFastPath checks that records as felix writes them take the
// fast path; FuzzDecodeText checks that it agrees with the general one.
func TestDecodeTextFastPath(t *testing.T) {
	for _, tc := range []struct {
		line string
		fast bool
	}{
		{docsLine, true},
		{"1700000000 1700000300 wep kube-system metrics-server-6d94bc8694-m8x5n - wep kube-system coredns-5d78c9869d-lzd2q - 10.244.4.218 10.244.2.67 17 55143 53 32 20 8 src 672 945 569856 61425 allow", true},
		{"1700000000 1700000300 wep default checkoutservice-598d5b586d-* [app=checkoutservice,tier=backend] wep staging web-7c8d9e6f5a-* [app=web,team=web] - - 6 - 8080 12 3 4 dst 25 767 18925 1073033 allow", true},
		{"1700000000 1700000300 wep default frontend-755cdc7957-bjblc - net - pub - fd00::1 2001:db8::7 tcp 36872 443 20 20 10 src 221 1625 156910 125287500000 deny", true},
		{"1700000000 1700000300 wep dév a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 -", true},
		// Unusual columns the fast path hands to the general column parser.
		{"1700000000 1700000300 wep dev a - wep dev b - - - 6 01 2 3 4 5 src 6 7 8 9 -", true},
		{"1700000000 1700000300 wep dev a \"k\"=v wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 -", true},
		// Whole records for the general path.
		{"1700000000\t1700000300 wep dev a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 -", false},
		{"1700000000  1700000300 wep dev a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 -", false},
		{"1700000000 1700000300 wep d\xc3v a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 -", false},
		{"1700000000 1700000300 wep dev a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9", false},
	} {
		var f Flow
		f.resetForText()
		if got := decodeTextFast([]byte(tc.line), &f); got != tc.fast {
			t.Errorf("decodeTextFast(%q) = %v, want %v", tc.line, got, tc.fast)
		}
	}
}
