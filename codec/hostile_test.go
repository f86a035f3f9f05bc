package codec_test

import (
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
)

const textRest = " wep dev a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 allow"

// TestTextNumberOutOfRange: a text number too large for int64 was
// reported as "not an integer".
func TestTextNumberOutOfRange(t *testing.T) {
	for _, tc := range []struct{ col, want string }{
		{"99999999999999999999", `column 1 (startTime) at byte 0: integer out of range (a signed 64-bit number): "99999999999999999999"`},
		{"-9223372036854775809", "integer out of range"},
		{"9223372036854775808", "integer out of range"},
		{"12a", "not an integer"},
		{"+1", "not an integer"},
		{"-", ""},
		{"9223372036854775807", ""},
		{"-9223372036854775808", ""},
	} {
		var f codec.Flow
		err := codec.DecodeText([]byte(tc.col+" 2"+textRest), &f)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.col, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.col, err, tc.want)
		}
	}
}

// TestTextCRMidLine: a CR in mid-line split a column in two, although the
// format (and the docs) separate columns by spaces and tabs only. A CR or
// LF inside a record is now part of its column, like any control byte;
// at the ends of a record they are trimmed (a CRLF line ending). The fast
// and the general path agree (FuzzDecodeText checks it on these seeds).
func TestTextCRMidLine(t *testing.T) {
	var f codec.Flow
	if err := codec.DecodeText([]byte("1 2 wep de\rv a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 allow\r\n"), &f); err != nil {
		t.Fatal(err)
	}
	if ns := f.Get(codec.SourceNamespace).Str; ns != "de\rv" {
		t.Errorf("source_namespace %q, want %q", ns, "de\rv")
	}
	if a := f.Get(codec.Action).Str; a != "allow" {
		t.Errorf("action %q", a)
	}
	// 25 columns with the CR a separator, 24 now: it decodes.
	if err := codec.DecodeText([]byte("1 2 wep dev a\rb - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 allow"), &f); err != nil {
		t.Errorf("CR inside a name: %v", err)
	}
	// And a CR standing for a separator does not separate.
	err := codec.DecodeText([]byte("1\r2"+textRest), &f)
	if err == nil || !strings.Contains(err.Error(), `column 1 (startTime) at byte 0: not an integer: "1\r2"`) {
		t.Errorf("CR between columns: %v", err)
	}
	if err := codec.Decode([]byte("\r\n 1 2"+textRest+" \r\n"), &f); err != nil {
		t.Errorf("blanks and CR LF at the ends: %v", err)
	}
}
