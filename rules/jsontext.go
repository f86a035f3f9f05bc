package rules

import (
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/flowsieve/flowsieve/codec"
)

// The codec keeps arrays and objects as their JSON text (valid: it checked
// it). These helpers walk that text without allocating, for
// record_accessor paths ($.source_labels.labels[0]) and for tests on the
// scalars inside a list.

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at i.
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		return stringEnd(s, i)
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				i = stringEnd(s, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(s) && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
			i++
		}
		return i
	}
}

// stringEnd returns the index just past the string starting at i (a '"').
func stringEnd(s string, i int) int {
	i++
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
			continue
		case '"':
			return i + 1
		}
		i++
	}
	return i
}

// unquote decodes the JSON string token q (with its quotes). Without
// escapes it returns a substring of q; otherwise it decodes into *buf.
func unquote(q string, buf *[]byte) string {
	body := q[1 : len(q)-1]
	esc := false
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' {
			esc = true
			break
		}
	}
	if !esc {
		return body
	}
	b := (*buf)[:0]
	b = appendUnquoted(b, body)
	*buf = b
	return viewString(b)
}

// viewString views b as a string without copying; it is valid until b's
// bytes are next written (the next use of the same scratch buffer).
func viewString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// appendUnquoted appends the decoded content of a JSON string body.
func appendUnquoted(b []byte, body string) []byte {
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b = append(b, c)
			continue
		}
		i++
		switch body[i] {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'u':
			r, n := hexRune(body, i+1)
			i += n
			if utf16.IsSurrogate(r) {
				if i+2 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
					r2, n2 := hexRune(body, i+3)
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 2 + n2
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default: // " \ /
			b = append(b, body[i])
		}
	}
	return b
}

func hexRune(s string, i int) (rune, int) {
	if i+4 > len(s) {
		return utf8.RuneError, len(s) - i
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c-'a') + 10
		case 'A' <= c && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return utf8.RuneError, 4
		}
	}
	return r, 4
}

// keyEquals reports whether the JSON string token q decodes to key,
// without allocating.
func keyEquals(q, key string) bool {
	body := q[1 : len(q)-1]
	if len(body) == len(key) && body == key {
		return true
	}
	var tmp [64]byte
	if len(body) > len(tmp) {
		return string(appendUnquoted(nil, body)) == key
	}
	return string(appendUnquoted(tmp[:0], body)) == key
}

// member returns the value text of the last member named key in the object
// text obj (Ruby's JSON parser keeps the last of duplicate keys).
func member(obj, key string) (string, bool) {
	var found string
	ok := false
	i := skipWS(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		ke := stringEnd(obj, i)
		match := keyEquals(obj[i:ke], key)
		i = skipWS(obj, ke)
		i = skipWS(obj, i+1) // ':'
		ve := valueEnd(obj, i)
		if match {
			found, ok = obj[i:ve], true
		}
		i = skipWS(obj, ve)
		if i < len(obj) && obj[i] == ',' {
			i = skipWS(obj, i+1)
		}
	}
	return found, ok
}

// element returns the idx-th element of the array text arr; a negative
// index counts from the end, as in Ruby.
func element(arr string, idx int) (string, bool) {
	if idx < 0 {
		n := 0
		for i := skipWS(arr, 1); i < len(arr) && arr[i] != ']'; n++ {
			i = skipWS(arr, valueEnd(arr, i))
			if i < len(arr) && arr[i] == ',' {
				i = skipWS(arr, i+1)
			}
		}
		idx += n
		if idx < 0 {
			return "", false
		}
	}
	n := 0
	for i := skipWS(arr, 1); i < len(arr) && arr[i] != ']'; n++ {
		e := valueEnd(arr, i)
		if n == idx {
			return arr[i:e], true
		}
		i = skipWS(arr, e)
		if i < len(arr) && arr[i] == ',' {
			i = skipWS(arr, i+1)
		}
	}
	return "", false
}

// textValue turns a JSON value text back into a codec.Value (Str unquoted
// lazily: strings keep their quotes and are decoded by the caller).
func textValue(t string) codec.Value {
	if t == "" {
		return codec.Value{Kind: codec.KindAbsent}
	}
	switch t[0] {
	case '"':
		return codec.Value{Str: t, Kind: kindQuoted}
	case '{':
		return codec.Value{Str: t, Kind: codec.KindObject}
	case '[':
		return codec.Value{Str: t, Kind: codec.KindArray}
	case 't', 'f':
		return codec.Value{Str: t, Kind: codec.KindBool}
	case 'n':
		return codec.Value{Str: t, Kind: codec.KindNull}
	}
	return codec.Value{Str: t, Kind: codec.KindNumber}
}

// kindQuoted marks a string value that dig found inside JSON text: Str
// still holds the quoted token. resolveQuoted decodes it.
const kindQuoted codec.Kind = 200

func resolveQuoted(v codec.Value, buf *[]byte) codec.Value {
	if v.Kind == kindQuoted {
		return codec.Value{Str: unquote(v.Str, buf), Kind: codec.KindString}
	}
	return v
}

// dig follows record_accessor steps from v the way Ruby's Hash#dig does:
// nil along the way gives nil; a name on a Hash looks the member up; an
// index on an Array picks an element; an index on a Hash gives nil (JSON
// keys are strings); anything else (a name on an Array, any step into a
// string, number or boolean) raises TypeError, reported as bad.
func dig(v codec.Value, path []pathStep) (codec.Value, bool) {
	for _, p := range path {
		switch v.Kind {
		case codec.KindAbsent, codec.KindNull:
			return codec.Value{Kind: codec.KindNull}, false
		case codec.KindObject:
			if p.isIdx {
				return codec.Value{Kind: codec.KindNull}, false
			}
			t, ok := member(v.Str, p.key)
			if !ok {
				return codec.Value{Kind: codec.KindNull}, false
			}
			v = textValue(t)
		case codec.KindArray:
			if !p.isIdx {
				return v, true
			}
			t, ok := element(v.Str, p.index)
			if !ok {
				return codec.Value{Kind: codec.KindNull}, false
			}
			v = textValue(t)
		default:
			return v, true
		}
	}
	return v, false
}

// jsonScalars iterates over the scalar values (not the member names) inside
// an array or object text, depth first. Strings come back decoded; null is
// skipped.
type jsonScalars struct {
	s string
	i int
}

func (j *jsonScalars) next(buf *[]byte) (string, bool) {
	s := j.s
	for j.i < len(s) {
		c := s[j.i]
		switch {
		case c == '"':
			e := stringEnd(s, j.i)
			tok := s[j.i:e]
			j.i = skipWS(s, e)
			if j.i < len(s) && s[j.i] == ':' { // a member name
				j.i++
				continue
			}
			return unquote(tok, buf), true
		case c == '-' || '0' <= c && c <= '9' || c == 't' || c == 'f':
			e := valueEnd(s, j.i)
			tok := s[j.i:e]
			j.i = e
			return tok, true
		case c == 'n':
			j.i = valueEnd(s, j.i)
		default:
			j.i++
		}
	}
	return "", false
}
