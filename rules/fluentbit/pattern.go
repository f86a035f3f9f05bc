package fluentbit

import (
	"fmt"
	"strings"

	"github.com/flowsieve/flowsieve/internal/ruby"
)

// Pattern is a grep rule's regular expression as Fluent Bit compiles it
// (src/flb_regex.c str_to_regex): Onigmo, Ruby syntax, UTF-8.
type Pattern struct {
	Written string // the text after the key, as written
	Body    string // what Onigmo compiles, after /.../ stripping
	Flags   string // of i, m, x, in that order; "" when none
	// Ruby is Body with the flags folded in as inline options (and, for x,
	// the extended-mode spaces and comments removed): the Ruby-syntax
	// pattern the rule file carries.
	Ruby string
}

// parsePattern follows str_to_regex exactly, including its odd corners:
// "/re/" is stripped to "re"; "/re/FLAGS" with FLAGS made of i, m, x (and
// o, which is ignored) is stripped and sets the flags; a slash-started
// pattern whose tail after the last slash holds any other letter, or only
// o, is compiled whole, slashes included ("/a/o" and "/a/g" are literal).
func parsePattern(s string) (Pattern, error) {
	p := Pattern{Written: s, Body: s}
	if len(s) > 1 && s[0] == '/' {
		last := strings.LastIndexByte(s, '/')
		var i, m, x bool
		flagsOK := last > 0
		for _, c := range []byte(s[last+1:]) {
			switch c {
			case 'i':
				i = true
			case 'm':
				m = true
			case 'x':
				x = true
			case 'o':
			default:
				flagsOK = false
			}
		}
		switch {
		case flagsOK && (i || m || x):
			p.Body = s[1:last]
			for _, f := range []struct {
				on bool
				c  string
			}{{i, "i"}, {m, "m"}, {x, "x"}} {
				if f.on {
					p.Flags += f.c
				}
			}
		case s[len(s)-1] == '/':
			p.Body = s[1 : len(s)-1]
		}
	}
	body := p.Body
	if strings.Contains(p.Flags, "x") {
		var err error
		if body, err = stripExtended(body); err != nil {
			return p, err
		}
	}
	inline := strings.ReplaceAll(p.Flags, "x", "")
	if inline != "" {
		// A leading (?im) applies to the whole pattern in Ruby, as the
		// ONIG_OPTION_* flags do.
		body = "(?" + inline + ")" + body
	}
	p.Ruby = body
	return p, nil
}

// stripExtended removes what Onigmo's extended mode (ONIG_OPTION_EXTEND)
// ignores: unescaped whitespace and #-comments outside character classes.
// An escaped space stays a literal space.
func stripExtended(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return "", fmt.Errorf("trailing backslash")
			}
			if s[i+1] == ' ' {
				b.WriteString(`\x20`)
			} else {
				b.WriteString(s[i : i+2])
			}
			i++
		case strings.HasPrefix(s[i:], "(?#"):
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				return "", fmt.Errorf("unterminated comment group")
			}
			i += end
		case c == '[':
			end, err := classEnd(s, i)
			if err != nil {
				return "", err
			}
			b.WriteString(s[i:end])
			i = end - 1
		case c == '#':
			nl := strings.IndexByte(s[i:], '\n')
			if nl < 0 {
				i = len(s)
			} else {
				i += nl
			}
		case isSpace(c):
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// classEnd returns the index just past the character class starting at
// s[i] == '[', nested classes included.
func classEnd(s string, i int) (int, error) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '[':
			depth++
			if j+1 < len(s) && s[j+1] == '^' {
				j++
			}
			if j+1 < len(s) && s[j+1] == ']' {
				j++ // a ']' right after '[' or '[^' is literal
			}
		case ']':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unterminated character class")
}

// compileMatchRegex compiles a match_regex as Fluent Bit does (str_to_regex,
// then Onigmo), with its Onigmo meaning.
func compileMatchRegex(s string) (*ruby.Regexp, error) {
	p, err := parsePattern(s)
	if err != nil {
		return nil, err
	}
	return ruby.Compile(p.Ruby)
}
