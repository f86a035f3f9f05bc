package codec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readLines returns the non-empty lines of a file, each a fresh slice.
func readLines(tb testing.TB, path string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}

func decodeGeneric(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("encoding/json cannot read %s: %v", b, err)
	}
	return v
}

// jsonNumbers lists the number literals outside strings, in order.
func jsonNumbers(b []byte) []string {
	var out []string
	inStr, esc := false, false
	start := -1
	for i, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
		}
		isNum := c == '-' || c == '.' || c == '+' || c == 'e' || c == 'E' || ('0' <= c && c <= '9')
		if isNum && start < 0 {
			start = i
		} else if !isNum && start >= 0 {
			out = append(out, string(b[start:i]))
			start = -1
		}
	}
	return out
}

func TestRealRecordsRoundTrip(t *testing.T) {
	dir := realDir(t)
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no real records in %s: %v", dir, err)
	}
	total := 0
	for _, p := range paths {
		lines := readLines(t, p)
		for i, line := range lines {
			name := filepath.Base(p)
			last := i == len(lines)-1
			var f Flow
			err := Decode(line, &f)
			if name == "flows-felix-testdata.jsonl" && last {
				// felix's own test data ends with a truncated record.
				var se *SyntaxError
				if !errors.As(err, &se) || se.Format != FormatJSON || se.Offset != len(line) {
					t.Errorf("%s:%d truncated record: err %v, want a JSON SyntaxError at byte %d", name, i+1, err, len(line))
				} else if !strings.Contains(err.Error(), "byte ") {
					t.Errorf("message %q does not name the offset", err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s:%d: %v", name, i+1, err)
				continue
			}
			total++
			out := AppendJSON(nil, &f)
			if want, got := decodeGeneric(t, line), decodeGeneric(t, out); !reflect.DeepEqual(want, got) {
				t.Errorf("%s:%d: re-encoded record differs\n in: %s\nout: %s", name, i+1, line, out)
			}
			if want, got := jsonNumbers(line), jsonNumbers(out); !reflect.DeepEqual(want, got) {
				t.Errorf("%s:%d: number literals changed\n in: %v\nout: %v", name, i+1, want, got)
			}
			if !bytes.Equal(out, bytes.TrimSpace(line)) {
				t.Errorf("%s:%d: not byte-identical\n in: %s\nout: %s", name, i+1, line, out)
			}
			var g Flow
			if err := DecodeJSON(out, &g); err != nil || !f.Equal(&g) {
				t.Errorf("%s:%d: re-decoding the encoding: err %v, equal %v", name, i+1, err, err == nil && f.Equal(&g))
			}
		}
	}
	if total < 260 {
		t.Errorf("only %d real records decoded, want all 263", total)
	}
}
