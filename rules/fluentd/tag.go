package fluentd

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/flowsieve/flowsieve/internal/quote"
	"github.com/flowsieve/flowsieve/internal/ruby"
)

// filterApplies reports whether a <filter PATTERNS> section applies to
// records with the given tag, as fluentd's router decides it: the argument
// is split at white space into patterns (none means "**"), and a record
// goes through the filter when any pattern matches its tag
// (lib/fluent/match.rb: "**" matches everything, "*" one tag part or
// less, "**" inside a pattern zero or more parts, "{a,b}" alternatives,
// "\" escapes, "/re/" a regex).
func filterApplies(arg, tag string) (bool, error) {
	pats := strings.Fields(arg)
	if len(pats) == 0 {
		pats = []string{"**"}
	}
	for _, p := range pats {
		ok, err := globMatch(p, tag)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// globMatch builds the Ruby regex fluentd's GlobMatchPattern builds and
// matches it with its Ruby meaning.
func globMatch(pat, tag string) (bool, error) {
	if pat == "**" {
		return true, nil
	}
	if strings.HasPrefix(pat, "/") {
		if !strings.HasSuffix(pat, "/") || len(pat) < 2 {
			return false, fmt.Errorf("invalid match - regex: %s", pat)
		}
		return rubyRegexMatch(`\A`+pat[1:len(pat)-1]+`\Z`, tag)
	}
	var stack [][]string
	re := []string{""}
	escape, dot := false, false
	for i := 0; i < len(pat); {
		c := pat[i : i+1]
		last := len(re) - 1
		if escape {
			re[last] += regexp.QuoteMeta(c)
			escape = false
			i++
			continue
		}
		if strings.HasPrefix(pat[i:], "**") {
			if dot {
				re[last] += `(?![^\.])`
				dot = false
			}
			if i+2 < len(pat) && pat[i+2] == '.' {
				re[last] += `(?:.*\.|\A)`
				i += 3
			} else {
				re[last] += `.*`
				i += 2
			}
			continue
		}
		if dot {
			re[last] += `\.`
			dot = false
		}
		switch {
		case c == `\`:
			escape = true
		case c == ".":
			dot = true
		case c == "*":
			re[last] += `[^\.]*`
		case c == "{":
			stack = append(stack, nil)
			re = append(re, "")
		case c == "}" && len(stack) > 0:
			top := append(stack[len(stack)-1], re[last])
			stack, re = stack[:len(stack)-1], re[:last]
			re[len(re)-1] += "(?:" + strings.Join(wrap(top), "|") + ")"
		case c == "," && len(stack) > 0:
			stack[len(stack)-1] = append(stack[len(stack)-1], re[last])
			re[last] = ""
		case isWordChar(c[0]):
			re[last] += c
		default: // fluentd escapes it: a literal character
			re[last] += regexp.QuoteMeta(c)
		}
		i++
	}
	for len(stack) > 0 {
		last := len(re) - 1
		top := append(stack[len(stack)-1], re[last])
		stack, re = stack[:len(stack)-1], re[:last]
		re[len(re)-1] += "(?:" + strings.Join(wrap(top), "|") + ")"
	}
	return rubyRegexMatch(`\A`+re[0]+`\Z`, tag)
}

func wrap(alts []string) []string {
	out := make([]string, len(alts))
	for i, a := range alts {
		out[i] = "(?:" + a + ")"
	}
	return out
}

func isWordChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// rubyRegexMatch runs a Ruby pattern (a /regex/ tag pattern) with its
// Ruby meaning.
func rubyRegexMatch(src, s string) (bool, error) {
	re, err := ruby.Compile(src)
	if err != nil {
		return false, fmt.Errorf("tag pattern %s: %v", quote.Cut(src), err)
	}
	return re.MatchString(s)
}
