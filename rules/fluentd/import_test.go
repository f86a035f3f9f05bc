package fluentd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// importSet imports conf and loads the result as a rule file, so every
// test also checks that the output passes `rules check`.
func importSet(t testing.TB, conf string) *rules.Set {
	t.Helper()
	res, err := Import([]byte(conf), "filters.conf")
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, res.YAML, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := rules.LoadFile(path)
	if err != nil {
		t.Fatalf("imported rules do not load: %v\n%s", err, res.YAML)
	}
	return s
}

// kept returns the indexes of the records the set keeps.
func kept(t testing.TB, s *rules.Set, recs []string) []int {
	t.Helper()
	out := []int{}
	var f codec.Flow
	var v rules.Verdict
	for i, r := range recs {
		if err := codec.Decode([]byte(r), &f); err != nil {
			t.Fatalf("decode %s: %v", r, err)
		}
		s.Judge(&f, &v)
		if v.Keep {
			out = append(out, i)
		}
	}
	return out
}

// The cases below re-express fluentd's test/plugin/test_filter_grep.rb.

var messages = []string{
	`{"foo":"bar","message":"2013/01/13T07:02:11.124202 INFO GET /ping"}`,
	`{"foo":"bar","message":"2013/01/13T07:02:13.232645 WARN POST /auth"}`,
	`{"foo":"bar","message":"2013/01/13T07:02:21.542145 WARN GET /favicon.ico"}`,
	`{"foo":"bar","message":"2013/01/13T07:02:43.632145 WARN POST /login"}`,
}

func TestGrepFilterStream(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want []int
	}{
		{"regexpN", "regexp1 message WARN", []int{1, 2, 3}},
		{"excludeN", "exclude1 message favicon", []int{0, 1, 3}},
		{"regexps", "<regexp>\n key message\n pattern WARN\n</regexp>", []int{1, 2, 3}},
		{"excludes", "<exclude>\n key message\n pattern favicon\n</exclude>", []int{0, 1, 3}},
		{"slashes", "<regexp>\n key message\n pattern /[A-Z]{4} GET/\n</regexp>", []int{0, 2}},
		{"slashes with i", "<regexp>\n key message\n pattern /warn post/i\n</regexp>", []int{1, 3}},
		{"legacy keeps slashes", "regexp1 message /ping", []int{0}},
		{"legacy verbatim slashes", "regexp1 message /ping/", []int{}},
		{"empty grep", "", []int{0, 1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := importSet(t, "<filter **>\n  @type grep\n"+tc.conf+"\n</filter>\n")
			if got := kept(t, s, messages); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRegexpNCanContainASpace(t *testing.T) {
	// "regexp1 message  foo": split at the first space, the pattern is " foo".
	s := importSet(t, "<filter **>\n @type grep\n regexp1 message  foo\n</filter>\n")
	got := kept(t, s, []string{`{"message":"a foo"}`, `{"message":"afoo"}`})
	if !reflect.DeepEqual(got, []int{0}) {
		t.Errorf("kept %v, want [0]", got)
	}
}

var levelRecords = []string{
	`{"time":"2013/01/13T07:02:11.124202","level":"INFO","method":"GET","path":"/ping"}`,
	`{"time":"2013/01/13T07:02:13.232645","level":"WARN","method":"POST","path":"/auth"}`,
	`{"time":"2013/01/13T07:02:21.542145","level":"WARN","method":"GET","path":"/favicon.ico"}`,
	`{"time":"2013/01/13T07:02:43.632145","level":"WARN","method":"POST","path":"/login"}`,
	`{"time":"2013/01/13T07:02:44.959307","level":"ERROR","method":"POST","path":"/login"}`,
	`{"time":"2013/01/13T07:02:45.444992","level":"ERROR","method":"GET","path":"/ping"}`,
	`{"time":"2013/01/13T07:02:51.247941","level":"WARN","method":"GET","path":"/info"}`,
	`{"time":"2013/01/13T07:02:53.108366","level":"WARN","method":"POST","path":"/ban"}`,
}

func sec(kind, key, pattern string) string {
	return "<" + kind + ">\n key " + key + "\n pattern " + pattern + "\n</" + kind + ">\n"
}

func group(kind string, body ...string) string {
	return "<" + kind + ">\n" + strings.Join(body, "") + "</" + kind + ">\n"
}

func TestGrepAndOr(t *testing.T) {
	lvlRE := sec("regexp", "level", "^ERROR|WARN$")
	mthRE := sec("regexp", "method", "^GET|POST$")
	lvlEx := sec("exclude", "level", "^WARN$")
	mthEx := sec("exclude", "method", "^GET$")
	tests := []struct {
		name string
		conf string
		recs int // how many of levelRecords
		want []int
	}{
		{"basic and/regexp", group("and", sec("regexp", "level", "^INFO$"), sec("regexp", "method", "^GET$")), 4, []int{0}},
		{"basic or/exclude", group("or", sec("exclude", "level", "^INFO$"), sec("exclude", "method", "^GET$")), 4, []int{1, 3}},
		{"basic or/regexp", group("or", sec("regexp", "level", "^INFO$"), sec("regexp", "method", "^GET$")), 4, []int{0, 2}},
		{"basic and/exclude", group("and", sec("exclude", "level", "^INFO$"), sec("exclude", "method", "^GET$")), 4, []int{1, 2, 3}},
		{"and/regexp, or/exclude", group("and", lvlRE, mthRE) + group("or", lvlEx, mthEx), 8, []int{4}},
		{"and/regexp, and/exclude", group("and", lvlRE, mthRE) + group("and", lvlEx, mthEx), 8, []int{1, 3, 4, 5, 7}},
		{"or/regexp, and/exclude", group("or", lvlRE, mthRE) + group("and", lvlEx, mthEx), 8, []int{0, 1, 3, 4, 5, 7}},
		{"or/regexp, or/exclude", group("or", lvlRE, mthRE) + group("or", lvlEx, mthEx), 8, []int{4}},
		{"regexp, and/regexp", group("and", lvlRE, mthRE) + sec("regexp", "path", "^/login$"), 8, []int{3, 4}},
		{"regexp, or/exclude", lvlRE + mthRE + group("or", lvlEx, mthEx), 8, []int{4}},
		{"regexp, and/exclude", lvlRE + mthRE + group("and", lvlEx, mthEx), 8, []int{1, 3, 4, 5, 7}},
		// Two <and> blocks of excludes join ONE exclude-AND list.
		{"two and/exclude merge", group("and", lvlEx) + group("and", mthEx), 8, []int{0, 1, 3, 4, 5, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := importSet(t, "<filter **>\n@type grep\n"+tc.conf+"</filter>\n")
			if got := kept(t, s, levelRecords[:tc.recs]); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGrepNestedKeys(t *testing.T) {
	recs := []string{
		`{"foo":"bar","message":{"nest1":{"nest2":"INFO"}}}`,
		`{"foo":"bar","message":{"nest1":{"nest2":"WARN"}}}`,
		`{"foo":"bar","message":{"nest1":{"nest2":"WARN"}}}`,
	}
	s := importSet(t, "<filter **>\n@type grep\n"+sec("regexp", "$.message.nest1.nest2", "WARN")+"</filter>\n")
	if got := kept(t, s, recs); !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("regexp: kept %v", got)
	}
	s = importSet(t, "<filter **>\n@type grep\n"+sec("exclude", "$['message']['nest1']['nest2']", "WARN")+"</filter>\n")
	if got := kept(t, s, recs); !reflect.DeepEqual(got, []int{0}) {
		t.Errorf("exclude: kept %v", got)
	}
}

func TestGrepNonStringValues(t *testing.T) {
	// fluentd matches Ruby's to_s of the value: ["0"].to_s is "[\"0\"]",
	// {"0"=>"0"}.to_s is "{\"0\"=>\"0\"}", 0.to_s "0", 0.1.to_s "0.1".
	for _, msg := range []string{`["0"]`, `{"0":"0"}`, `0`, `0.1`} {
		s := importSet(t, "<filter **>\n@type grep\nregexp1 message 0\n</filter>\n")
		if got := kept(t, s, []string{`{"foo":"bar","message":` + msg + `}`}); len(got) != 1 {
			t.Errorf("message %s was dropped", msg)
		}
	}
	s := importSet(t, "<filter **>\n@type grep\nregexp1 message true\n</filter>\n")
	if got := kept(t, s, []string{`{"foo":"bar","message":true}`}); len(got) != 1 {
		t.Errorf("true was dropped")
	}
}

func TestGrepConfigErrors(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"flat duplicate", "regexp1 message test\nregexp2 message test2\n", "filters.conf:4: regexp2 contains a duplicated key"},
		{"section duplicate", sec("regexp", "message", "test") + sec("regexp", "message", "test2"), "Duplicate key: message"},
		{"mix", "regexp1 message test\n" + sec("regexp", "message", "test"), "Duplicate key: message"},
		{"and/regexp", group("and", sec("regexp", "message", "test"), sec("regexp", "message", "test")), "Duplicate key in <and>"},
		{"and/regexp twice", group("and", sec("regexp", "message", "test")) + group("and", sec("regexp", "message", "test")), "Duplicate key in <and>"},
		{"regexp, and/regexp", sec("regexp", "message", "test") + group("and", sec("regexp", "message", "test")), "Duplicate key in <and>"},
		{"and/exclude", group("and", sec("exclude", "message", "test"), sec("exclude", "message", "test")), "Duplicate key in <and>"},
		{"and/exclude twice", group("and", sec("exclude", "message", "test")) + group("and", sec("exclude", "message", "test")), "Duplicate key in <and>"},
		{"exclude, or/exclude", sec("exclude", "message", "test") + group("or", sec("exclude", "message", "test")), "Duplicate key in <or>"},
		{"and with both", group("and", sec("regexp", "message", "/test/"), sec("exclude", "level", "/debug/")), "filters.conf:3: Do not specify both <regexp> and <exclude> in <and>"},
		{"or with both", group("or", sec("regexp", "message", "/test/"), sec("exclude", "level", "/debug/")), "Do not specify both <regexp> and <exclude> in <or>"},
		{"missing pattern", "<regexp>\n key message\n</regexp>\n", "filters.conf:3: <regexp> needs pattern"},
		{"legacy one word", "regexp1 message\n", "filters.conf:3: regexp1 does not contain 2 parameters"},
		{"missing right slash", sec("regexp", "message", "/abc/xyz"), "filters.conf:5: invalid regexp: missing right slash"},
		{"json value", sec("regexp", "message", "[a-z]test"), "filters.conf:5: a value starting with '[' is read as JSON"},
		{"nested quantifier", sec("regexp", "message", "a**"), "filters.conf:5: pattern \"a**\" cannot be imported: at offset 2: nested quantifier"},
		{"posix class by difference", sec("regexp", "message", "/[[:graph:]]/"), "POSIX bracket [:graph:] is not supported"},
		{"negated posix class", sec("regexp", "message", "/[[:^alpha:]]/"), "negated POSIX bracket [:^alpha:]"},
		{"bad accessor", sec("regexp", "$.a[x]", "a"), `filters.conf:4: key "$.a[x]"`},
		{"other section", "<parse>\n</parse>\n", "filters.conf:3: <parse> is not a section of fluentd's grep filter"},
		{"embedded ruby", "<regexp>\n key message\n pattern \"#{ENV['X']}\"\n</regexp>\n", "filters.conf:5: embedded Ruby code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import([]byte("<filter **>\n@type grep\n"+tc.conf+"</filter>\n"), "filters.conf")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ conf, want string }{
		{"<match **>\n @type stdout\n</match>\n", "filters.conf:1: <match> cannot be imported"},
		{"<filter **>\n @type record_transformer\n</filter>\n", "filters.conf:2: <filter **> is @type record_transformer"},
		{"<filter **>\n @type grep\n", "filters.conf:1: <filter> is not closed"},
		{"@include other.conf\n", "filters.conf:1: @include cannot be imported"},
	} {
		if _, err := Import([]byte(tc.conf), "filters.conf"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error = %v, want %q", tc.conf, err, tc.want)
		}
	}
}

func TestGrepErrorKeepsRecord(t *testing.T) {
	// Digging into a string raises in Ruby; fluentd's rescue keeps the
	// record, even when an earlier condition would have dropped it only
	// later in the order. The regexp-AND list is checked first.
	conf := "<filter **>\n@type grep\n" +
		sec("regexp", "$.level.x", "x") +
		sec("exclude", "method", "GET") + "</filter>\n"
	s := importSet(t, conf)
	if got := kept(t, s, levelRecords[:3]); !reflect.DeepEqual(got, []int{0, 1, 2}) {
		t.Errorf("kept %v, want all (the error keeps them)", got)
	}
	// When a non-matching regexp comes before the error, the record is
	// dropped before the error is reached.
	conf = "<filter **>\n@type grep\n" +
		sec("regexp", "level", "^NONE$") +
		sec("regexp", "$.level.x", "x") + "</filter>\n"
	s = importSet(t, conf)
	if got := kept(t, s, levelRecords[:3]); len(got) != 0 {
		t.Errorf("kept %v, want none", got)
	}
	// A null along the path is nil, not an error: "" is tested.
	s = importSet(t, "<filter **>\n@type grep\n"+sec("exclude", "$.source_labels.labels", "^$")+"</filter>\n")
	if got := kept(t, s, []string{`{"source_labels":null}`, `{"source_labels":{"labels":["a=b"]}}`}); !reflect.DeepEqual(got, []int{1}) {
		t.Errorf("kept %v, want [1]", got)
	}
}

func TestRubyToSOnCalicoFields(t *testing.T) {
	rec := `{"source_labels":{"labels":["run=multitool"]},"dest_port":5050,"source_ip":null,` +
		`"process_args":["-"],"policies":{"all_policies":["1|app|x|deny|-1","0|security|y|pass|0"]},` +
		`"big":1e16,"small":0.00001,"f":2.50,"neg":-0.0,"esc":"a\"b","t":true}`
	tests := []struct{ key, pattern string }{
		{"source_labels", `^\{"labels"=>\["run=multitool"\]\}$`},
		{"$.source_labels.labels", `^\["run=multitool"\]$`},
		{"$.source_labels.labels[0]", `^run=multitool$`},
		{"dest_port", `^5050$`},
		{"source_ip", `^$`},
		{"missing", `^$`},
		{"process_args", `^\["-"\]$`},
		{"policies", `^\{"all_policies"=>\["1\|app\|x\|deny\|-1", "0\|security\|y\|pass\|0"\]\}$`},
		{"$.policies.all_policies[-1]", `^0\|security`},
		{"big", `^1\.0e\+16$`},
		{"small", `^1\.0e-05$`},
		{"f", `^2\.5$`},
		{"neg", `^-0\.0$`},
		{"esc", `^a"b$`},
		{"t", `^true$`},
	}
	for _, tc := range tests {
		s := importSet(t, "<filter **>\n@type grep\n"+sec("exclude", tc.key, tc.pattern)+"</filter>\n")
		if got := kept(t, s, []string{rec}); len(got) != 0 {
			t.Errorf("key %s: /%s/ did not match Ruby's to_s", tc.key, tc.pattern)
		}
	}
}

func TestRubyRegexDialect(t *testing.T) {
	tests := []struct {
		pattern, value string
		match          bool
	}{
		{`^b`, "a\nb", true},      // ^ is a line anchor
		{`a$`, "a\nb", true},      // so is $
		{`\Aa\z`, "a\nb", false},  // \A \z are the string's ends
		{`a.b`, "a\nb", false},    // . does not match newline...
		{`/a.b/m`, "a\nb", true},  // ...unless Ruby's m flag
		{`/A.B/im`, "a\nb", true}, // both flags
		{`\d`, "٣", false},        // \d is ASCII in Ruby
		{`\s`, "\v", true},        // \s includes \v in Ruby
		{`^\h+$`, "c0ffee", true}, // \h is a hex digit
		{`a{,2}c`, "aac", true},   // {,n} is {0,n}
		{`^a{,2}c$`, "aaac", false},
		{`foo(?=bar)`, "foobar", true},
		{`foo(?=bar)`, "foobaz", false},
		{`(?<!x)y`, "ay", true},
		{`(a)\1`, "aa", true},
		{`(a)\1`, "ab", false},
		{`(?>a+)b`, "aab", true},
		{`(?#comment)dev`, "devops", true},
		{`\e`, "\x1b", true},
		{`\u00e9`, "é", true},
		{`^$`, "line1\nline2\n", false}, // Ruby's ^ does not match at the end after a final newline
		{`^$`, "a\n\n", true},
		{`\bdev\b`, "x dev", true},
		{`\bdev\b`, "édev", false}, // \b is Unicode-aware in Ruby: é is a word character
		{`(?i)x*`, "", true},
	}
	for _, tc := range tests {
		s := importSet(t, "<filter **>\n@type grep\n"+sec("exclude", "v", tc.pattern)+"</filter>\n")
		rec := `{"v":` + jsonString(tc.value) + `}`
		if got := len(kept(t, s, []string{rec})) == 0; got != tc.match {
			t.Errorf("/%s/ on %q: match=%v, want %v", tc.pattern, tc.value, got, tc.match)
		}
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
