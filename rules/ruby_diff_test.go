package rules

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/ruby"
)

// rubyOracle is what fluentd's grep does with one condition, in Ruby
// itself: dig the key's value out of the JSON-parsed record (Hash#[] for
// one key, Hash#dig for a path), take its to_s, and match the pattern
// compiled by Regexp.compile. Any exception is "error" (fluentd's rescue).
const rubyOracle = `
require 'json'
STDOUT.sync = false
STDIN.each_line do |l|
  c = JSON.parse(l)
  begin
    rec = JSON.parse(c["record"])
    keys = c["keys"]
    v = keys.size == 1 ? rec[keys[0]] : rec.dig(*keys)
    re = Regexp.compile(c["pattern"])
    puts(re.match(v.to_s) ? "match" : "nomatch")
  rescue RegexpError => e
    puts "badpattern"
  rescue => e
    puts "error"
  end
end
`

type oracleCase struct {
	Pattern string `json:"pattern"`
	Record  string `json:"record"`
	Keys    []any  `json:"keys"`
	key     string
}

// TestRubyDifferential compares compat: fluentd evaluation with Ruby (the
// real Regexp, to_s and dig) on hand-picked and random cases. It runs when
// needs a ruby binary (apt-get install ruby; .ci/run installs it) and fails
// without one: a differential test that skips tests nothing.
func TestRubyDifferential(t *testing.T) {
	rubyBin, err := exec.LookPath("ruby")
	if err != nil {
		t.Fatal("ruby not installed: apt-get install ruby (the README's prerequisites; .ci/run installs it)")
	}
	var cases []oracleCase
	add := func(pattern, record, key string) {
		steps, err := ruby.ParseAccessor(key)
		if err != nil {
			t.Fatalf("accessor %q: %v", key, err)
		}
		var keys []any
		for _, s := range steps {
			if s.IsIndex {
				keys = append(keys, s.Index)
			} else {
				keys = append(keys, s.Key)
			}
		}
		cases = append(cases, oracleCase{Pattern: pattern, Record: record, Keys: keys, key: key})
	}
	// Rendering of Calico's values.
	calico := `{"source_labels":{"labels":["app=frontend","pod-template-hash=755cdc7957"]},"dest_labels":{"labels":[]},` +
		`"source_ip":null,"dest_port":80,"policies":{"all_policies":["0|__PROFILE__|__PROFILE__.kns.default|allow|0"]},` +
		`"process_args":["-"],"dest_domains":null,"nat_outgoing_ports":[22661,26305],"f1":1.0,"f2":1e16,"f3":0.0001,` +
		`"f4":0.00001,"f5":-2.5e-7,"f6":123456789012345.6,"f7":1e15,"f8":-0.0,"big":123456789012345678901234567890,` +
		`"t":true,"n":null,"s":"a\"b\\c\u00e9\u0001#{x}\n\t","nested":{"a":[1,{"b":"c"},[true,null]],"e":{},"l":[]}}`
	for _, key := range []string{"source_labels", "dest_labels", "source_ip", "dest_port", "policies", "process_args",
		"dest_domains", "nat_outgoing_ports", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "big", "t", "n", "s", "nested",
		"$.nested.a", "$.nested.a[1]", "$.nested.a[-1]", "$.nested.a[5]", "$.nested.e", "$.nested.l", "$['nested']['a'][1]['b']",
		"$.source_labels.labels[0]", "$.source_labels.labels", "$.source_ip.x", "$.dest_port.x", "$.s.x", "$.nested.a.b",
		"$.missing.x", "$.t.x", "$[0]", "missing"} {
		add("", calico, key)            // just exercise dig/to_s errors
		add(`\A\z`, calico, key)        // empty?
		add(`[=>"\[\]{}]`, calico, key) // inspect punctuation
	}
	// Exact rendering: the oracle's to_s must equal ours, checked by an
	// anchored pattern of our rendering.
	for _, key := range []string{"source_labels", "dest_labels", "policies", "process_args", "nat_outgoing_ports",
		"f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "big", "s", "nested", "$.nested.a"} {
		steps, _ := ruby.ParseAccessor(key)
		lf := &leaf{field: codec.NumFields, key: steps[0].Key, path: steps[1:]}
		var fl codec.Flow
		if err := codec.Decode([]byte(calico), &fl); err != nil {
			t.Fatal(err)
		}
		var st evalState
		v, _ := lf.value(&fl, &st)
		s, _ := ruby.ToS(*v, &st.buf)
		add(`\A`+regexpQuoteRuby(s)+`\z`, calico, key)
	}
	// Regex dialect on strings.
	values := []string{"", "dev", "devops", "kube-dev", "a\nb", "A\nB", "nginx-internet-1", "x nginx-internet", "\v", " ", "\t",
		"é", "٣", "abc123", "ABC", "a.b", "aab", "foobar", "foobaz", "c0ffee", "{,2}", "aac", "a{,2}c", "line1\nline2\n", "#{x}", "ß",
		"café", "cafe\u0301", "Ⅻ", "\u00a0", "\u0085", "\u00ad", "$", "_", "ǅ", "ª", "\U0001D400", "aaa", "aaaaa", "abab", "x\u3000y", "~`", "Ⓐ", "\u0301", "\u2028"}
	patterns := []string{"dev", "^dev$", "^dev", "dev$", `\Adev\z`, "^b", "a$", "a.b", "(?m)a.b", "(?i)a.b", "(?im)A.B", `\d`, `\D`, `\w+`,
		`\W`, `\s`, `\S`, `\h+`, `\H`, `^\h+$`, "a{,2}c", "^a{,2}c$", "a{2}", "a{1,}", "[a-c]+", `[^\d]`, `[\s]`, `[\w.]+`, `\bdev\b`,
		"foo(?=bar)", "foo(?!bar)", "(?<=a)b", "(?<!a)b", `(a)\1`, `(?<x>a)\k<x>`, "(?>a+)b", "(?#c)dev", `\e`, `\x41`, `\u00e9`,
		`\u{e9}`, `\p{L}+`, `\p{^L}`, `\P{Nd}`, "(?i)É", "(?i)ß", "[[:alpha:]]", "a*+", "(?x) a", `\Z`, "a\\Z", `\z`, "^$", "$", "^",
		`\.`, `a|b`, "(a|b)c", "(?i:A)b", "(?-i)a", "[]a]", `[\]]`, "\\/", "x*?", "x+?", "x??", `\#`, `\{`, "a{", "{2}",
		`(?<name>x)`, `(?'n'x)`, `\cA`, `\0`, `[a&&b]`, `[a[b]]`,
		// Possessive quantifiers and POSIX brackets, with Onigmo's meaning.
		"a++", "a*+a", "a?+a", "^a++$", "(ab)++", `\d++1`, "^a{1,2}+$", "a{2}+", "(?i)A++", "[ab]*+b",
		"^[[:alpha:]]+$", "[[:alpha:]]", "[[:digit:]]", "[[:alnum:]]+", "^[[:upper:]]", "[[:lower:]]", "[[:space:]]", "[[:blank:]]",
		"[[:cntrl:]]", "[[:punct:]]", "^[[:xdigit:]]+$", "^[[:word:]]+$", "[[:ascii:]]", "^[^[:alpha:]]+$", "[[:alpha:][:digit:]]+",
		"(?<=[[:alpha:]])b", "[[:^alpha:]]", "[[:graph:]]"}
	for _, p := range patterns {
		for _, v := range values {
			b, _ := json.Marshal(map[string]string{"v": v})
			add(p, string(b), "v")
		}
	}
	// Random patterns from Ruby/RE2 building blocks, on random strings.
	// FLOWSIEVE_RUBY_DIFF_N=N FLOWSIEVE_RUBY_DIFF_SEED=S run more, or other,
	// random cases.
	n, seed := 3000, uint64(7)
	if v, err := strconv.Atoi(os.Getenv("FLOWSIEVE_RUBY_DIFF_N")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("FLOWSIEVE_RUBY_DIFF_SEED"), 10, 64); err == nil {
		seed = v
	}
	r := rand.New(rand.NewPCG(seed, 11))
	atoms := []string{"a", "b", ".", `\d`, `\w`, `\s`, `\h`, `\D`, `\S`, "[ab]", "[^a]", `[\d\s]`, "^", "$", `\A`, `\z`, `\b`,
		"(a|b)", "(?:ab)", "(?i)", "(?m)", "(?i:a)", "(?m:.)", "é", "\\n", "x", "-", "=", `\.`, `\[`,
		"(?=a)", "(?!b)", "(?<=a)", "(?<!b)", "(?>a+)", `(a)\1`, `\Z`, `[\w-]`, `[^\s]`, `\p{L}`, `\u00e9`, `\B`, "(?i)É"}
	quants := []string{"", "", "", "*", "+", "?", "{2}", "{1,2}", "{,2}", "{2,}", "*?", "+?", "??"}
	alphabet := []string{"a", "b", "A", "B", "1", "9", " ", "\n", "\v", "\t", "é", "x", "-", "=", ".", "[", "ab", "ba"}
	for i := 0; i < n; i++ {
		var pb strings.Builder
		for n := 1 + r.IntN(5); n > 0; n-- {
			pb.WriteString(atoms[r.IntN(len(atoms))])
			pb.WriteString(quants[r.IntN(len(quants))])
		}
		var vb strings.Builder
		for n := r.IntN(8); n > 0; n-- {
			vb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		b, _ := json.Marshal(map[string]string{"v": vb.String()})
		add(pb.String(), string(b), "v")
	}

	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, c := range cases {
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(rubyBin, "-e", rubyOracle)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ruby: %v", err)
	}
	answers := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(answers) != len(cases) {
		t.Fatalf("ruby answered %d of %d cases", len(answers), len(cases))
	}
	var agree, refused, mismatches int
	for i, c := range cases {
		want := answers[i]
		m, err := compileRuby(c.Pattern)
		if err != nil {
			if want != "badpattern" {
				refused++ // refusing is allowed; silently differing is not
				if testing.Verbose() && refused < 400 {
					t.Logf("refused %q: %v", c.Pattern, err)
				}
			}
			continue
		}
		if want == "badpattern" {
			t.Errorf("pattern %q: Ruby refuses it, we accept it", c.Pattern)
			mismatches++
			continue
		}
		steps, _ := ruby.ParseAccessor(c.key)
		lf := &leaf{kind: kRuby, sm: m, field: codec.NumFields, path: steps[1:]}
		if steps[0].IsIndex {
			lf.nilKey = true
		} else if id, ok := codec.FieldByName(steps[0].Key); ok {
			lf.field = id
		} else {
			lf.key = steps[0].Key
		}
		var fl codec.Flow
		if err := codec.Decode([]byte(c.Record), &fl); err != nil {
			t.Fatalf("decode %s: %v", c.Record, err)
		}
		var st evalState
		got := map[int8]string{resTrue: "match", resFalse: "nomatch", resError: "error"}[lf.eval(&fl, &st)]
		if got != want {
			mismatches++
			if mismatches <= 30 {
				t.Errorf("pattern %q key %s record %.120s: we say %s, Ruby says %s", c.Pattern, c.key, c.Record, got, want)
			}
			continue
		}
		agree++
	}
	t.Logf("%d cases: %d agree with Ruby, %d refused by the translator, %d differ", len(cases), agree, refused, mismatches)
}

// regexpQuoteRuby escapes s for a Ruby regex (Regexp.escape's set).
func regexpQuoteRuby(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '.', '*', '?', '+', '^', '$', '|', '(', ')', '[', ']', '{', '}', '\\', '/', '-', '#', ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\v':
			b.WriteString(`\v`)
		case '\r':
			b.WriteString(`\r`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
