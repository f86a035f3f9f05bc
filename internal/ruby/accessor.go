package ruby

import (
	"fmt"
	"strconv"
	"strings"
)

// Step is one record_accessor step: a member name or an array index.
type Step struct {
	Key     string
	Index   int
	IsIndex bool
}

// ParseAccessor parses fluentd's record_accessor syntax as fluentd does: a
// plain key, or $.a.b[0] dot notation, or $['a']['b'][0] bracket notation.
func ParseAccessor(s string) ([]Step, error) {
	switch {
	case strings.HasPrefix(s, "$."):
		return parseDotAccessor(s)
	case strings.HasPrefix(s, "$["):
		return parseBracketAccessor(s)
	}
	return []Step{{Key: s}}, nil
}

func parseDotAccessor(param string) ([]Step, error) {
	var out []Step
	// Ruby's String#split drops trailing empty fields.
	parts := strings.Split(param[2:], ".")
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	for _, k := range parts {
		if !strings.Contains(k, "[") {
			if strings.ContainsAny(k, " \t\n\r\f\v") {
				return nil, fmt.Errorf("whitespace character is not allowed in dot notation; use bracket notation")
			}
			out = append(out, Step{Key: k})
			continue
		}
		start := strings.IndexByte(k, '[')
		if start > 0 {
			if strings.ContainsAny(k[:start], " \t\n\r\f\v") {
				return nil, fmt.Errorf("whitespace character is not allowed in dot notation; use bracket notation")
			}
			out = append(out, Step{Key: k[:start]})
		}
		rest := k[start+1:]
		inBracket := true
		for rest != "" {
			if inBracket {
				i := strings.IndexByte(rest, ']')
				if i < 0 {
					return nil, fmt.Errorf("'[' found but ']' not found")
				}
				idx, err := rubyInteger(rest[:i])
				if err != nil {
					return nil, err
				}
				out = append(out, Step{Index: idx, IsIndex: true})
				rest, inBracket = rest[i+1:], false
			} else {
				i := strings.IndexByte(rest, '[')
				if i < 0 {
					return nil, fmt.Errorf("found more characters after ']'")
				}
				rest, inBracket = rest[i+1:], true
			}
		}
		if inBracket {
			return nil, fmt.Errorf("'[' found but ']' not found")
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty keys in dot notation")
	}
	return out, nil
}

func parseBracketAccessor(param string) ([]Step, error) {
	var out []Step
	p := param[1:]
	inBracket := false
	for p != "" {
		if inBracket {
			if p[0] == '\'' || p[0] == '"' {
				// fluentd looks for "']" first, then "\"]", and then
				// insists the quote found matches the opening one.
				i := strings.Index(p, "']")
				if i < 0 {
					i = strings.Index(p, "\"]")
				}
				if i < 0 {
					return nil, fmt.Errorf("incomplete bracket")
				}
				if p[0] != p[i] {
					return nil, fmt.Errorf("mismatched quotes")
				}
				if i == 0 {
					return nil, fmt.Errorf("incomplete bracket")
				}
				out = append(out, Step{Key: p[1:i]})
				p, inBracket = p[i+2:], false
			} else {
				i := strings.IndexByte(p, ']')
				if i < 0 {
					return nil, fmt.Errorf("'[' found but ']' not found")
				}
				idx, err := rubyInteger(p[:i])
				if err != nil {
					return nil, err
				}
				out = append(out, Step{Index: idx, IsIndex: true})
				p, inBracket = p[i+1:], false
			}
		} else {
			i := strings.IndexByte(p, '[')
			if i < 0 {
				return nil, fmt.Errorf("found more characters after ']'")
			}
			p, inBracket = p[i+1:], true
		}
	}
	if inBracket {
		return nil, fmt.Errorf("'[' found but ']' not found")
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty keys in bracket notation")
	}
	return out, nil
}

// rubyInteger accepts the array indexes Ruby's Integer() reads as plain
// decimal. Other spellings Ruby accepts (0x10, 010 as octal, 1_000) are
// refused rather than guessed.
func rubyInteger(s string) (int, error) {
	t := strings.TrimLeft(s, "+-")
	if t == "" || (len(t) > 1 && t[0] == '0') || len(s)-len(t) > 1 {
		return 0, fmt.Errorf("array index %q: write a plain decimal number", s)
	}
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("array index %q: write a plain decimal number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("array index %q: %v", s, err)
	}
	return n, nil
}
