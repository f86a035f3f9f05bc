package ruby

import (
	"fmt"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/flowsieve/flowsieve/codec"
)

// ToS renders v as fluentd's grep sees it: Ruby's to_s of the value
// Ruby's JSON parser produced. nil (absent or null) is "", strings are
// themselves, integers as written, floats Ruby's way (1.0e+16), arrays and
// hashes as Ruby's inspect ({"labels"=>["app=x"]}, Ruby up to 3.3). The
// result may live in *buf, valid until *buf is next written. ok is false
// for a Kind it does not know.
func ToS(v codec.Value, buf *[]byte) (string, bool) {
	switch v.Kind {
	case codec.KindAbsent, codec.KindNull:
		return "", true
	case codec.KindString, codec.KindBool:
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
		b := appendRubyInspect((*buf)[:0], v.Str)
		*buf = b
		return viewString(b), true
	}
	return "", false
}

// viewString views b as a string without copying; it is valid until b's
// bytes are next written.
func viewString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
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

// appendRubyInspect writes the JSON array or object text s as Ruby's
// inspect of what JSON.parse makes of it, token by token: braces and
// brackets as they are, ':' as "=>", ',' as ", ", null as nil, strings as
// String#inspect, numbers as Integer or Float#to_s.
func appendRubyInspect(b []byte, s string) []byte {
	for i := 0; ; {
		tok, next := codec.NextJSONToken(s, i)
		if tok == "" {
			return b
		}
		i = next
		switch c := tok[0]; c {
		case '{', '}', '[', ']':
			b = append(b, c)
		case ':':
			b = append(b, '=', '>')
		case ',':
			b = append(b, ',', ' ')
		case '"':
			b = appendRubyString(b, tok)
		case 'n':
			b = append(b, "nil"...)
		case 't', 'f':
			b = append(b, tok...)
		default:
			switch {
			case tok == "-0":
				b = append(b, '0')
			case isJSONInt(tok):
				b = append(b, tok...)
			default:
				b = appendRubyFloat(b, tok)
			}
		}
	}
}

// appendRubyString writes the JSON string token q (quotes included) as
// Ruby's String#inspect of its decoded value.
func appendRubyString(b []byte, q string) []byte {
	body := q[1 : len(q)-1]
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
	scratch := tmp[:0]
	dec := codec.UnquoteJSON(q, &scratch)
	b = append(b, '"')
	for i := 0; i < len(dec); {
		r, n := utf8.DecodeRuneInString(dec[i:])
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
