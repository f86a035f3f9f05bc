package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

// addRealSeeds adds every line of the real records (internal/calicoreal)
// whose file names match glob.
func addRealSeeds(f *testing.F, glob string) {
	dir := calicoreal.Dir(f)
	paths, _ := filepath.Glob(filepath.Join(dir, glob))
	if len(paths) == 0 {
		f.Fatalf("no real records match %s", glob)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				f.Add(bytes.Clone(line))
			}
		}
	}
}

// checkSyntaxError fails unless err is a *SyntaxError pointing inside b.
func checkSyntaxError(t *testing.T, b []byte, err error, format Format) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
	}
	if se.Format != format || se.Offset < 0 || se.Offset > len(b) || se.Msg == "" {
		t.Fatalf("bad SyntaxError %+v for %q", se, b)
	}
	_ = se.Error()
}

// checkReencode fails unless f's JSON encoding is valid JSON that decodes
// back to an equal Flow.
func checkReencode(t *testing.T, in []byte, f *Flow) {
	t.Helper()
	out := AppendJSON(nil, f)
	if !json.Valid(out) {
		t.Fatalf("AppendJSON wrote invalid JSON for %q: %s", in, out)
	}
	var g Flow
	if err := DecodeJSON(out, &g); err != nil {
		t.Fatalf("re-decoding %s (from %q): %v", out, in, err)
	}
	if !f.Equal(&g) {
		t.Fatalf("re-decoded flow differs\n in: %q\nout: %s", in, out)
	}
	if out2 := AppendJSON(nil, &g); f.Format() == FormatJSON && !bytes.Equal(out, out2) {
		t.Fatalf("encoding is not stable\n 1st: %s\n 2nd: %s", out, out2)
	}
}

func FuzzDecodeText(f *testing.F) {
	addRealSeeds(f, "*.log")
	for _, s := range []string{
		docsLine,
		"1 2 wep default web-1 [app=web,tier=fe] net - pub - 10.0.0.1 198.51.100.7 tcp 40000 443 1 1 0 src 10 12 1200 5400 deny",
		"1 2 wep default web-1 {\"app\":\"x\"} net - pub [] fd00::1 2001:db8::2 58 - - 1 1 0 dst 1 1 1 1 allow",
		"1 2 - - - - - - - - - - - - - - - - - - - - - -",
		"1\t2  wep dev * a=b,c=d wep dev x-* - - - 132 1 2 3 4 5 src 6 7 8 9 allow\r\n",
		"-1 007 wep dev a \"k\":\"v\" wep dev b \"a=b\" - - 255 0 65535 0 0 0 out 0 0 0 0 deny",
		"",
		"1 2 3",
		"10.244.7.79",
		"01.2.3.255",
		// Numbers at the fast path's word boundaries: 7, 8, 9, 15 and 16
		// digits, leading zeros, and the last bytes of the record.
		"1234567 12345678 wep a b - wep c d - 1.2.3.4 5.6.7.8 6 123456789 0 123456789012345 1234567890123456 00 src 0 01 1 2 x",
		"1528842551 1528842851 wep dev rails-81531* [a=b,c=d=e,f=] wep dev m-1 [k:v] - - - 6 - 3000 7 3 4 out 154 61 70111 49404 allow",
		"1 2 wep dev a [a=b,,c=d] wep dev b [=v] - - 6 1 2 3 4 5 src 6 7 8 9 a",
		"app=frontend,pod-template-hash=755cdc7957,k8s.io/x=a=b,e=",
		"1 2 wep dev a [a=b,] wep dev b [\"x\"=y] 10.0.0.01 - udp 1 2 3 4 5 src 6 7 8 9 a b",
		"1 2 wep d\xc3\xa9v a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 -",
		"1 2 wep d\xc3v a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 -",
		// CR and LF inside a record are part of a column, not separators.
		"1 2 wep de\rv a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 allow",
		"1\r2 wep dev a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 allow x",
		"1 2 wep dev a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9\rallow",
		"1 2 wep dev a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 al\nlow\r\n",
		"99999999999999999999 -9223372036854775809 wep dev a - wep dev b - - - 6 1 2 3 4 5 src 6 7 8 9 allow",
	} {
		f.Add([]byte(s))
	}
	prev := []byte(`{"start_time":1,"source_labels":{"labels":["x=y"]},"process_name":"p","tcp_min_mss":5,"extra":[1]}`)
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, ok := parseIPv4(string(b)); ok {
			if want, err := netip.ParseAddr(string(b)); err != nil || a != want {
				t.Fatalf("parseIPv4(%q) = %v, netip.ParseAddr = %v, %v", b, a, want, err)
			}
		}
		if plain, ok := splitPlainLabels(string(b), nil); ok {
			if all, err := splitLabels(string(b), nil); err != nil || !slices.Equal(plain, all) {
				t.Fatalf("labels %q: splitPlainLabels %q, splitLabels %q, %v", b, plain, all, err)
			}
		}
		// Decode into a Flow that held a JSON record: nothing of it may
		// survive. The general path alone must give the same result.
		var fl, general Flow
		if err := DecodeJSON(prev, &fl); err != nil {
			t.Fatal(err)
		}
		err := DecodeText(b, &fl)
		general.resetForText()
		end := len(b)
		for end > 0 && isBlank(b[end-1]) {
			end--
		}
		gerr := decodeTextGeneral(b[:end], &general)
		if (err == nil) != (gerr == nil) || err != nil && err.Error() != gerr.Error() {
			t.Fatalf("DecodeText(%q) = %v, the general path alone: %v", b, err, gerr)
		}
		if err != nil {
			checkSyntaxError(t, b, err, FormatText)
			return
		}
		if !fl.Equal(&general) || string(AppendJSON(nil, &fl)) != string(AppendJSON(nil, &general)) {
			t.Fatalf("DecodeText(%q) differs from the general path:\n%s\n%s", b, AppendJSON(nil, &fl), AppendJSON(nil, &general))
		}
		checkReencode(t, b, &fl)
	})
}

// jsonSeeds are the hand-written seeds of the JSON fuzz targets.
var jsonSeeds = []string{
	`{}`,
	`{"startTime":1,"start_time":2,"endTime":3}`,
	`{"source_labels":{"labels":["a=b","c"],"labels":["x=y"]},"dest_labels":null}`,
	`{"proto":"ICMP6","source_ip":"::ffff:1.2.3.4","dest_ip":"fe80::1%eth0"}`,
	`{"a":"\u00e9\ud83d\ude00\ud800","b":[1,-0,1.5e-3,{"c":null}],"a":true}`,
	`{"bytes_in":1.0,"bytes_out":99999999999999999999,"dest_port":"53"}`,
	` { "k\"ey" : "v\\" } `,
	`{"a":1`,
	`{"a":"\x"}`,
}

func FuzzDecodeJSON(f *testing.F) {
	addRealSeeds(f, "*.jsonl")
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl Flow
		err := DecodeJSON(b, &fl)
		// encoding/json is the reference for what JSON is; it does not
		// check UTF-8, so compare only on valid UTF-8 input.
		if utf8.Valid(b) && !tooDeep(b) {
			trimmed := bytes.TrimLeft(b, " \t\r\n")
			isObject := len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(b)
			if isObject != (err == nil) {
				t.Fatalf("DecodeJSON err %v, encoding/json says object=%v for %q", err, isObject, b)
			}
		}
		if err != nil {
			checkSyntaxError(t, b, err, FormatJSON)
			return
		}
		if !json.Valid(b) {
			t.Fatalf("DecodeJSON accepted invalid JSON %q", b)
		}
		checkReencode(t, b, &fl)
	})
}

// tooDeep reports nesting beyond what DecodeJSON accepts (counting brackets
// outside strings roughly is enough: it only excuses a disagreement).
func tooDeep(b []byte) bool {
	depth := 0
	for _, c := range b {
		switch c {
		case '{', '[':
			depth++
			if depth > maxDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
