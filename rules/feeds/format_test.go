package feeds

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func build(t *testing.T, body string, c Content, f Format) (*Table, error) {
	t.Helper()
	return Build(context.Background(), strings.NewReader(body), c, f, false, "src", "f")
}

func TestBuildFormats(t *testing.T) {
	csv := func(c CSVFormat) Format { return Format{Kind: CSV, CSV: c} }
	js := func(p string) Format { return Format{Kind: JSON, JSONPath: p} }
	tests := []struct {
		name    string
		body    string
		f       Format
		entries int
		in, out []string
	}{
		{"newline", "# comment\n198.51.100.7\n\n203.0.113.0/24 # trailing\r\n2001:db8::/32\n", Format{}, 3,
			[]string{"198.51.100.7", "203.0.113.9", "2001:db8::1"}, []string{"198.51.100.8", "10.0.0.1"}},
		{"newline no final newline", "198.51.100.7", Format{}, 1, []string{"198.51.100.7"}, nil},
		{"json top-level array", `["198.51.100.7", "203.0.113.0/24"]`, js("$."), 2, []string{"203.0.113.1"}, []string{"10.0.0.1"}},
		{"json member", `{"meta": {"n": 2}, "ips": ["198.51.100.7"], "other": ["10.0.0.1"]}`, js("$.ips"), 1,
			[]string{"198.51.100.7"}, []string{"10.0.0.1"}},
		{"json nested with [*]", `{"data": [{"ip": "198.51.100.7", "score": 9}, {"ip": "203.0.113.5"}]}`, js(`$.data[*].ip`), 2,
			[]string{"198.51.100.7", "203.0.113.5"}, nil},
		{"json bracket name and index", `{"a b": [["10.0.0.1"], ["198.51.100.7"]]}`, js(`$["a b"][1]`), 1,
			[]string{"198.51.100.7"}, []string{"10.0.0.1"}},
		{"csv fieldNum", "10.0.0.1,198.51.100.7\n10.0.0.2,203.0.113.5\n", csv(CSVFormat{FieldNum: 1}), 2,
			[]string{"198.51.100.7", "203.0.113.5"}, []string{"10.0.0.1"}},
		{"csv fieldName, header, delimiter, comment", "# generated\nfirst|ip|score\nx|198.51.100.7|9\n#x|10.0.0.1|1\ny|\"203.0.113.5\"|3\n",
			csv(CSVFormat{FieldNum: -1, FieldName: "ip", Header: true, Comma: '|', Comment: '#'}), 2,
			[]string{"198.51.100.7", "203.0.113.5"}, []string{"10.0.0.1"}},
		{"csv uneven with size check off", "198.51.100.7,a\n203.0.113.5,b,c\n", csv(CSVFormat{NoSizeCheck: true}), 2,
			[]string{"203.0.113.5"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := build(t, tc.body, IPSet, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if tb.Entries != tc.entries {
				t.Errorf("entries %d, want %d", tb.Entries, tc.entries)
			}
			for _, a := range tc.in {
				if !tb.ContainsAddr(netip.MustParseAddr(a)) {
					t.Errorf("%s not in the table", a)
				}
			}
			for _, a := range tc.out {
				if tb.ContainsAddr(netip.MustParseAddr(a)) {
					t.Errorf("%s in the table", a)
				}
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	csv := func(c CSVFormat) Format { return Format{Kind: CSV, CSV: c} }
	js := func(p string) Format { return Format{Kind: JSON, JSONPath: p} }
	tests := []struct {
		name string
		body string
		c    Content
		f    Format
		want []string
	}{
		{"garbage line", "198.51.100.7\nhunter2-password\n", IPSet, Format{}, []string{
			`src:2: feed "f": "hunter2-"… (16 bytes): not an IP address or CIDR (unable to parse IP)`}},
		{"whole family", "0.0.0.0/0\n", IPSet, Format{}, []string{
			`src:1: feed "f": 0.0.0.0/0 covers every IPv4 address, so every flow would match; set allow_any: true on the feed if that is meant`}},
		{"csv record size", "198.51.100.7,a\n203.0.113.5,b,c\n", IPSet, csv(CSVFormat{}), []string{
			`src:2: feed "f": wrong number of fields`}},
		{"csv missing header column", "a,b\n1,2\n", IPSet, csv(CSVFormat{FieldName: "ip", Header: true}), []string{
			`src:1: feed "f": the header has no column "ip"`}},
		{"json not strings", `{"ips": ["198.51.100.7", 12, {"x": 1}]}`, IPSet, js("$.ips"), []string{
			`src:entry 2: feed "f": $.ips holds a number, not a string`,
			`src:entry 3: feed "f": $.ips holds a object, not a string`}},
		{"json path selects nothing", `{"ips": []}`, IPSet, js("$.ip"), []string{
			`src: feed "f": path $.ip selects nothing in the document`}},
		{"json truncated", `{"ips": ["198.51.100.7"`, IPSet, js("$.ips"), []string{
			`src: feed "f": reading JSON at byte 23: unexpected EOF`}},
		{"json not json", `<html>oops</html>`, IPSet, js("$.ips"), []string{
			`src: feed "f": not JSON at byte 1: invalid character '<' looking for beginning of value`}},
		{"domain garbage", "evil.example\nnot a domain\n*.wild.example\na..b\n", DomainNameSet, Format{}, []string{
			`src:2: feed "f": "not a "… (12 bytes): not a domain name (letters, digits, '-', '_' and '.' only)`,
			`src:3: feed "f": "*.wild."… (14 bytes): a wildcard; list the domain itself (its subdomains match too)`,
			`src:4: feed "f": "a."… (4 bytes): an empty label (two dots, or a leading dot)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(t, tc.body, tc.c, tc.f)
			if err == nil {
				t.Fatal("built; want errors")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestBuildStopsReportingAfterMaxErrors(t *testing.T) {
	_, err := build(t, strings.Repeat("nope\n", 1000), IPSet, Format{})
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || !strings.HasSuffix(lines[maxErrors], "too many errors, stopped reporting") {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestParseJSONPathRefuses(t *testing.T) {
	for _, p := range []string{"ips", "$..ips", "$.ips[?(@.x)]", "$['ips']", "$.ips[1:2]", "$.", "$"} {
		_, err := ParseJSONPath(p)
		ok := p == "$." || p == "$"
		if (err == nil) != ok {
			t.Errorf("%s: err %v", p, err)
		}
	}
}
