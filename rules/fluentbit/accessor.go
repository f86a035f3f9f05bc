package fluentbit

import (
	"fmt"
	"strconv"
	"strings"
)

// Accessor is the part of a Fluent Bit record accessor that grep uses: the
// top-level key and the subkeys below it.
type Accessor struct {
	Key  string
	Subs []Sub
}

// Sub is one subkey step: a map key, or an array index when IsIndex.
type Sub struct {
	Str     string
	Index   int
	IsIndex bool
}

// String writes the accessor back in Fluent Bit's syntax.
func (a Accessor) String() string {
	var b strings.Builder
	b.WriteString("$" + a.Key)
	for _, s := range a.Subs {
		if s.IsIndex {
			fmt.Fprintf(&b, "[%d]", s.Index)
		} else {
			b.WriteString("['" + strings.ReplaceAll(s.Str, "'", "''") + "']")
		}
	}
	return b.String()
}

// parseAccessor turns a grep rule's field into the accessor grep matches
// with, following flb_ra_create: a field not starting with '$' gets one;
// the accessor text ends at the first '.', ' ', ',' or '"' (a '.' between
// single quotes does not end it), so `$a.b` means key `a`; what follows is
// a literal the grep filter never looks at. The rest is lexed as ra.l does
// (a character it does not know is reported and skipped) and must read
// `$ IDENTIFIER (['string'] | [integer])*`.
//
// Two accessors are valid Fluent Bit but never match a record: `$0`..`$9...`
// (a regex capture reference) and `$TAG...` (the record's tag). They are
// refused with that explanation: such a rule is certainly a mistake.
func parseAccessor(field string) (Accessor, error) {
	f := field
	if f == "" || f[0] != '$' {
		f = "$" + f
	}
	if len(f) == 1 {
		return Accessor{}, fmt.Errorf("record accessor %q names no key", field)
	}
	if c := f[1]; '0' <= c && c <= '9' {
		return Accessor{}, fmt.Errorf("record accessor %q: Fluent Bit reads $%c as a regex capture reference, so the rule never looks at the record", field, c)
	}
	if strings.HasPrefix(f[1:], "TAG") {
		return Accessor{}, fmt.Errorf("record accessor %q: Fluent Bit reads $TAG as the record's tag, so the rule never looks at the record", field)
	}
	a, end, err := parseMeta(f, 0)
	if err != nil {
		return Accessor{}, fmt.Errorf("invalid record accessor %q", field)
	}
	// flb_ra_create goes on through the rest of the text, and a later
	// '$' that does not parse fails the whole accessor.
	for i := end; i < len(f); {
		if f[i] != '$' {
			i++
			continue
		}
		n := i + 1
		switch {
		case n >= len(f):
			i = n
		case '0' <= f[n] && f[n] <= '9':
			i += 2
		case strings.HasPrefix(f[n:], "TAG"):
			i = n + 3
			if i+1 < len(f) && f[i] == '[' {
				if j := strings.IndexByte(f[i:], ']'); j > 0 {
					i += j + 1
				}
			}
		default:
			if _, i, err = parseMeta(f, i); err != nil {
				return Accessor{}, fmt.Errorf("invalid record accessor %q", field)
			}
		}
	}
	return a, nil
}

// parseMeta parses the key accessor starting at f[i] == '$' and returns
// where its text ends.
func parseMeta(f string, i int) (Accessor, int, error) {
	end, quotes := i+1, 0
	for ; end < len(f); end++ {
		c := f[end]
		if c == '\'' {
			quotes++
		} else if c == '.' && quotes%2 == 1 {
			continue
		} else if c == '.' || c == ' ' || c == ',' || c == '"' {
			break
		}
	}
	toks := lexAccessor(f[i:end])
	bad := fmt.Errorf("syntax")
	if len(toks) < 2 || toks[0].kind != '$' || toks[1].kind != tokIdent {
		return Accessor{}, end, bad
	}
	a := Accessor{Key: toks[1].text}
	for j := 2; j < len(toks); j += 3 {
		if j+2 >= len(toks) || toks[j].kind != '[' || toks[j+2].kind != ']' {
			return Accessor{}, end, bad
		}
		switch t := toks[j+1]; t.kind {
		case tokString:
			a.Subs = append(a.Subs, Sub{Str: t.text})
		case tokInt:
			n, err := strconv.Atoi(t.text)
			if err != nil || n >= 1<<31-1 {
				return Accessor{}, end, fmt.Errorf("array index %s is out of range", t.text)
			}
			a.Subs = append(a.Subs, Sub{Index: n, IsIndex: true})
		default:
			return Accessor{}, end, bad
		}
	}
	return a, end, nil
}

const (
	tokIdent = iota + 256
	tokString
	tokInt
)

type token struct {
	kind int // one of the tok constants, or the byte of a one-character token
	text string
}

// lexAccessor is ra.l: longest match among an integer ([1-9][0-9]*|0), a
// single-quoted string (” is a quote), an identifier
// ([_A-Za-z][A-Za-z0-9_.\-/]*) and the characters $ [ ] . , ; — blanks and
// newlines are skipped, and so is any other character (the C lexer logs
// "bad input character" and goes on).
func lexAccessor(s string) []token {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '0':
			toks = append(toks, token{tokInt, "0"})
			i++
		case '1' <= c && c <= '9':
			j := i + 1
			for j < len(s) && '0' <= s[j] && s[j] <= '9' {
				j++
			}
			toks = append(toks, token{tokInt, s[i:j]})
			i = j
		case c == '\'':
			j, body, ok := i+1, []byte{}, false
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						body = append(body, '\'')
						j += 2
						continue
					}
					ok = true
					j++
					break
				}
				body = append(body, s[j])
				j++
			}
			if !ok {
				i++ // an unterminated quote is a bad character; lexing goes on after it
				continue
			}
			toks = append(toks, token{tokString, string(body)})
			i = j
		case c == '_' || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z'):
			j := i + 1
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			toks = append(toks, token{tokIdent, s[i:j]})
			i = j
		case strings.IndexByte("$[].,;", c) >= 0:
			toks = append(toks, token{int(c), s[i : i+1]})
			i++
		default:
			i++ // blanks, newlines and bad characters
		}
	}
	return toks
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || c == '/' ||
		('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
}
