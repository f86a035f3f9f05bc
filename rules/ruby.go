package rules

import (
	"fmt"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/flowsieve/flowsieve/codec"
)

// rubyToS renders v as fluentd's grep sees it: Ruby's to_s of the value
// Ruby's JSON parser produced. nil (missing or null) is "", strings are
// themselves, integers as written, floats Ruby's way (1.0e+16), arrays and
// hashes as Ruby's inspect ({"labels"=>["app=x"]}, Ruby up to 3.3). ok is
// false when the JSON text cannot be rendered (it cannot happen for text the
// codec accepted; fluentd would have failed earlier).
func rubyToS(v codec.Value, buf *[]byte) (string, bool) {
	switch v.Kind {
	case codec.KindAbsent, codec.KindNull:
		return "", true
	case codec.KindString:
		return v.Str, true
	case kindQuoted:
		return unquote(v.Str, buf), true
	case codec.KindBool:
		return v.Str, true
	case codec.KindNumber:
		if isJSONInt(v.Str) {
			if v.Str == "-0" {
				return "0", true
			}
			return v.Str, true
		}
		b := appendRubyFloat((*buf)[:0], v.Str)
		*buf = b
		return viewString(b), true
	case codec.KindArray, codec.KindObject:
		if b, ok := appendRubyInspectPlain((*buf)[:0], v.Str); ok {
			*buf = b
			return viewString(b), true
		}
		b, _, ok := appendRubyInspect((*buf)[:0], v.Str, 0)
		*buf = b
		return viewString(b), ok
	}
	return "", false
}

func isJSONInt(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// appendRubyFloat writes the JSON number text num as Ruby's Float#to_s:
// the shortest digits that round-trip, in fixed notation when the decimal
// exponent is in -4 < exp < 16 (0.DIGITS × 10^exp), else d.ddde+XX;
// always with a fraction. (Checked against Ruby 3.1.)
func appendRubyFloat(b []byte, num string) []byte {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil && !math.IsInf(f, 0) {
		return append(b, num...)
	}
	switch {
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // -d.ddde±XX
	if e[0] == '-' {
		b = append(b, '-')
		e = e[1:]
	}
	ei := 0
	for ei < len(e) && e[ei] != 'e' {
		ei++
	}
	mant := e[:ei]
	exp, _ := strconv.Atoi(string(e[ei+1:]))
	var digits [24]byte
	nd := 0
	for _, c := range mant {
		if c != '.' {
			digits[nd] = c
			nd++
		}
	}
	decpt := exp + 1 // value = 0.digits × 10^decpt
	switch {
	case decpt > 0 && decpt <= 15:
		if decpt >= nd {
			b = append(b, digits[:nd]...)
			for i := nd; i < decpt; i++ {
				b = append(b, '0')
			}
			return append(b, ".0"...)
		}
		b = append(b, digits[:decpt]...)
		b = append(b, '.')
		return append(b, digits[decpt:nd]...)
	case decpt <= 0 && decpt > -4:
		b = append(b, "0."...)
		for i := decpt; i < 0; i++ {
			b = append(b, '0')
		}
		return append(b, digits[:nd]...)
	}
	b = append(b, digits[0], '.')
	if nd > 1 {
		b = append(b, digits[1:nd]...)
	} else {
		b = append(b, '0')
	}
	b = append(b, 'e')
	x := decpt - 1
	if x < 0 {
		b = append(b, '-')
		x = -x
	} else {
		b = append(b, '+')
	}
	if x < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(x), 10)
}

// appendRubyInspectPlain is appendRubyInspect in one pass for the common
// case, Calico's labels and policies: strings of printable ASCII without
// escapes, integers, booleans, null. It gives up (ok false) on anything
// else, and the general version renders it.
func appendRubyInspectPlain(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
		case '{', '}', '[', ']':
			b = append(b, c)
		case ':':
			b = append(b, '=', '>')
		case ',':
			b = append(b, ',', ' ')
		case '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if c := s[j]; c < 0x20 || c > 0x7e || c == '\\' || c == '#' {
					return b, false
				}
			}
			if j >= len(s) {
				return b, false
			}
			b = append(b, s[i:j+1]...)
			i = j
		case 't', 'f':
			e := valueEnd(s, i)
			b = append(b, s[i:e]...)
			i = e - 1
		case 'n':
			b = append(b, "nil"...)
			i += 3
		default:
			e := valueEnd(s, i)
			tok := s[i:e]
			if !isJSONInt(tok) || tok == "-0" {
				return b, false
			}
			b = append(b, tok...)
			i = e - 1
		}
	}
	return b, true
}

// appendRubyInspect writes the JSON value at the start of s as Ruby's
// inspect and returns the rest of s.
func appendRubyInspect(b []byte, s string, depth int) ([]byte, string, bool) {
	if depth > 512 {
		return b, s, false
	}
	i := skipWS(s, 0)
	if i >= len(s) {
		return b, "", false
	}
	switch s[i] {
	case '{':
		b = append(b, '{')
		i = skipWS(s, i+1)
		first := true
		for i < len(s) && s[i] != '}' {
			if !first {
				b = append(b, ", "...)
			}
			first = false
			if s[i] != '"' {
				return b, "", false
			}
			e := stringEnd(s, i)
			b = appendRubyString(b, s[i+1:e-1])
			b = append(b, "=>"...)
			i = skipWS(s, e)
			if i >= len(s) || s[i] != ':' {
				return b, "", false
			}
			var ok bool
			var rest string
			b, rest, ok = appendRubyInspect(b, s[i+1:], depth+1)
			if !ok {
				return b, "", false
			}
			s, i = rest, skipWS(rest, 0)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
			}
		}
		if i >= len(s) {
			return b, "", false
		}
		return append(b, '}'), s[i+1:], true
	case '[':
		b = append(b, '[')
		i = skipWS(s, i+1)
		first := true
		for i < len(s) && s[i] != ']' {
			if !first {
				b = append(b, ", "...)
			}
			first = false
			var ok bool
			var rest string
			b, rest, ok = appendRubyInspect(b, s[i:], depth+1)
			if !ok {
				return b, "", false
			}
			s, i = rest, skipWS(rest, 0)
			if i < len(s) && s[i] == ',' {
				i = skipWS(s, i+1)
			}
		}
		if i >= len(s) {
			return b, "", false
		}
		return append(b, ']'), s[i+1:], true
	case '"':
		e := stringEnd(s, i)
		return appendRubyString(b, s[i+1:e-1]), s[e:], true
	case 'n':
		return append(b, "nil"...), s[i+4:], len(s) >= i+4
	}
	e := valueEnd(s, i)
	tok := s[i:e]
	switch {
	case tok == "true" || tok == "false":
		b = append(b, tok...)
	case isJSONInt(tok):
		if tok == "-0" {
			tok = "0"
		}
		b = append(b, tok...)
	default:
		b = appendRubyFloat(b, tok)
	}
	return b, s[e:], true
}

// appendRubyString writes the JSON string body as Ruby's String#inspect of
// its decoded value.
func appendRubyString(b []byte, body string) []byte {
	plain := true
	for i := 0; i < len(body); i++ {
		if c := body[i]; c < 0x20 || c > 0x7e || c == '\\' || c == '"' || c == '#' {
			plain = false
			break
		}
	}
	if plain { // the common case: printable ASCII that needs no escaping
		b = append(b, '"')
		b = append(b, body...)
		return append(b, '"')
	}
	var tmp [128]byte
	dec := appendUnquoted(tmp[:0], body)
	b = append(b, '"')
	for i := 0; i < len(dec); {
		r, n := utf8.DecodeRune(dec[i:])
		if r == utf8.RuneError && n == 1 {
			b = fmt.Appendf(b, "\\x%02X", dec[i])
			i++
			continue
		}
		switch r {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		case '\f':
			b = append(b, '\\', 'f')
		case '\v':
			b = append(b, '\\', 'v')
		case '\b':
			b = append(b, '\\', 'b')
		case '\a':
			b = append(b, '\\', 'a')
		case 0x1b:
			b = append(b, '\\', 'e')
		case '#':
			if i+1 < len(dec) && (dec[i+1] == '{' || dec[i+1] == '$' || dec[i+1] == '@') {
				b = append(b, '\\')
			}
			b = append(b, '#')
		default:
			switch {
			case unicode.IsPrint(r) || r == ' ':
				b = append(b, dec[i:i+n]...)
			case r > 0xFFFF:
				b = fmt.Appendf(b, "\\u{%X}", r)
			default:
				b = fmt.Appendf(b, "\\u%04X", r)
			}
		}
		i += n
	}
	return append(b, '"')
}
