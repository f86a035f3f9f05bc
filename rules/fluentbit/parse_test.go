package fluentbit

import (
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/internal/ruby"
)

// str_to_regex's handling of slashes and flags, case by case.
func TestParsePattern(t *testing.T) {
	for _, tc := range []struct{ in, body, flags, ruby string }{
		{"dev", "dev", "", "dev"},
		{"/dev/", "dev", "", "dev"},
		{"/dev/i", "dev", "i", "(?i)dev"},
		{"/dev/mi", "dev", "im", "(?im)dev"},
		{"/dev/io", "dev", "i", "(?i)dev"},
		{"/dev/o", "/dev/o", "", "/dev/o"}, // only o: no option, compiled whole
		{"/dev/g", "/dev/g", "", "/dev/g"}, // unknown letter: compiled whole
		{"/a/b/", "a/b", "", "a/b"},
		{"/a/b/i", "a/b", "i", "(?i)a/b"},
		{"/ab/i/", "ab/i", "", "ab/i"},
		{"/abc", "/abc", "", "/abc"},
		{"/", "/", "", "/"},
		{"//", "", "", ""},
		{"a/b/", "a/b/", "", "a/b/"},
		{"/ a b # note\n c [ d] \\  e (?#x) /x", " a b # note\n c [ d] \\  e (?#x) ", "x", "abc[ d]\\x20e"},
		{"/a [#] b/xi", "a [#] b", "ix", "(?i)a[#]b"},
	} {
		p, err := parsePattern(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if p.Body != tc.body || p.Flags != tc.flags || p.Ruby != tc.ruby {
			t.Errorf("%q: body %q flags %q ruby %q, want %q %q %q", tc.in, p.Body, p.Flags, p.Ruby, tc.body, tc.flags, tc.ruby)
		}
	}
	for _, bad := range []string{"/a [b/x", "/a\\/x"} {
		if _, err := parsePattern(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// flb_ra_create's reading of grep keys.
func TestParseAccessor(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"source_namespace", "$source_namespace", ""},
		{"$source_namespace", "$source_namespace", ""},
		{"$a.b", "$a", ""},
		{"a.b.c", "$a", ""},
		{"$a['b'][0]", "$a['b'][0]", ""},
		{"$a['b.c']", "$a['b.c']", ""},
		{"$a['it''s']", "$a['it''s']", ""},
		{"$a[0][12]", "$a[0][12]", ""},
		{"$a-b/c", "$a-b/c", ""},
		{"$@a", "$a", ""},        // the lexer skips what it does not know
		{"$a,b", "$a", ""},       // the accessor ends at a comma
		{"$a.$b", "$a", ""},      // a later accessor must parse, and does
		{"$a.$[", "", "invalid"}, // and here does not
		{"$a[01]", "", "invalid"},
		{"$a[x]", "", "invalid"},
		{"$a['x'", "", "invalid"},
		{"$a]", "", "invalid"},
		{"$", "", "names no key"},
		{"$1", "", "regex capture reference"},
		{"1abc", "", "regex capture reference"},
		{"$TAG", "", "record's tag"},
		{"TAGS", "", "record's tag"},
		{"$a[99999999999]", "", "invalid"},
	} {
		a, err := parseAccessor(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case a.String() != tc.want:
			t.Errorf("%q: %s, want %s", tc.in, a, tc.want)
		}
	}
}

// flb_router_match, on the tags a filter is scoped by.
func TestScope(t *testing.T) {
	for _, tc := range []struct {
		props []Prop
		tag   string
		want  bool
	}{
		{[]Prop{{Key: "match", Value: "flows"}}, "flows", true},
		{[]Prop{{Key: "match", Value: "flow"}}, "flows", false},
		{[]Prop{{Key: "match", Value: "*"}}, "flows", true},
		{[]Prop{{Key: "match", Value: "f*s"}}, "flows", true},
		{[]Prop{{Key: "match", Value: "*_flows"}}, "non_cluster_flows", true},
		{[]Prop{{Key: "match", Value: "*_flows"}}, "flows", false},
		{[]Prop{{Key: "match", Value: "**w*"}}, "flows", true},
		{[]Prop{{Key: "match", Value: "Flows"}}, "flows", false},
		{[]Prop{{Key: "match", Value: "dns"}, {Key: "match", Value: "flows"}}, "flows", true}, // the last one counts
		{[]Prop{{Key: "match", Value: "flows"}, {Key: "match", Value: "dns"}}, "flows", false},
		{[]Prop{{Key: "match_regex", Value: "^fl"}}, "flows", true},
		{[]Prop{{Key: "match_regex", Value: "low"}}, "flows", false}, // anchored at the tag's start
		{[]Prop{{Key: "match_regex", Value: "x*"}}, "flows", false},  // an empty match does not count
		{[]Prop{{Key: "match_regex", Value: "/FLOWS/i"}}, "flows", true},
		{[]Prop{{Key: "match_regex", Value: "^dns"}, {Key: "match", Value: "flows"}}, "flows", true},
	} {
		f := &Filter{Props: append([]Prop{{Key: "name", Value: "grep"}}, tc.props...)}
		in, err := newInstance(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := in.appliesTo(tc.tag); got != tc.want {
			t.Errorf("%v on tag %s: %v, want %v", tc.props, tc.tag, got, tc.want)
		}
	}
}

// Details of the classic reader.
func TestParseClassic(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		props      string // key=value;... of every filter, filters separated by |
		err        string
	}{
		{"tabs", "[FILTER]\n\tName\tgrep\n", "", "undefined value"},
		{"tab indentation", "[FILTER]\n\tName grep\n\tMatch flows\n", "name=grep;match=flows", ""},
		{"mixed indentation", "[FILTER]\n    Name grep\n\tMatch flows\n", "", "inconsistent use of tab and space"},
		{"indentation fixed for the file", "[INPUT]\n  Name tail\n[FILTER]\n      Name grep\n", "", "extra indentation level found"},
		{"one more level outside a group", "[INPUT]\n  Name tail\n[FILTER]\n    Name grep\n", "name=grep", ""},
		{"group", "[FILTER]\n  Name grep\n  [G] x\n    Match flows\n", "", "groups inside a filter section"},
		{"comments and blanks", "# top\n[FILTER]\n    # inside\n\n    Name grep # not a comment\n", "name=grep # not a comment", ""},
		{"crlf", "[FILTER]\r\n    Name grep\r\n    Exclude a  b \r\n", "name=grep;exclude=a  b", ""},
		{"short section names", "[F]\n    Name grep\n[filters]\n    Name grep\n[FILTERX]\n    Name x\n", "name=grep|name=grep", ""},
		{"empty value", "[FILTER]\n    Name \n", "", "key has an empty value"},
		{"spaces only", "[FILTER]\n    Name   \n", "", "only spaces"},
		{"property before any section", "    Name grep\n", "", "outside any section"},
		{"bad header", "[FILTER\n    Name grep\n", "", "bad header definition"},
		{"meta commands", "@SET a=b\n[FILTER]\n    Name grep\n", "name=grep", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			filters, err := ParseClassic("f", []byte(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var fs []string
			for _, f := range filters {
				var ps []string
				for _, p := range f.Props {
					ps = append(ps, p.Key+"="+p.Value)
				}
				fs = append(fs, strings.Join(ps, ";"))
			}
			if got := strings.Join(fs, "|"); got != tc.props {
				t.Errorf("got %q, want %q", got, tc.props)
			}
		})
	}
}

// flb_cf_key_translate for YAML configs.
func TestTranslateKey(t *testing.T) {
	for in, want := range map[string]string{
		"logicalOp": "logical_op", "matchRegex": "match_regex", "logical_Op": "logical_op",
		"Logical_Op": "Logical_Op", "exclude": "exclude", "exCLUDE": "ex_c_l_u_d_e", "Regex": "Regex",
	} {
		if got := translateKey(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// The lint's "runs on the backtracking engine" warning asks package ruby's
// translator, which the rules engine runs the pattern with: Ruby spellings
// RE2 has (\h, \e, \uHHHH) stay on RE2; look-around and back-references
// need the backtracking engine, and so does a possessive quantifier (a++,
// Onigmo's "match and never give back", an atomic group there); a POSIX
// bracket is Unicode classes RE2 has; what the translator refuses (the
// rule does not load) gets no warning.
func TestBacktrackingPatterns(t *testing.T) {
	const re2, backtrack, refused = "re2", "backtrack", "refused"
	for p, want := range map[string]string{
		`^\h+$`: re2, `\e\[0m`: re2, `\u00e9t\u00e9`: re2, `a\\h`: re2, `(?i)dev`: re2,
		`^(?!dev)`: backtrack, `(a)\1`: backtrack, `x(?<=y)`: backtrack, `a\Z`: backtrack,
		`a++`: backtrack, `[[:alpha:]]`: re2, `[[:graph:]]`: refused, `a**`: refused,
	} {
		got := re2
		if re, err := ruby.Compile(p); err != nil {
			got = refused
		} else if re.Backtracks() {
			got = backtrack
		}
		if got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
}
