package codec

import (
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The decoders keep arrays and objects as their JSON text (Value.Str of a
// KindArray or KindObject value), checked but not parsed. The functions
// here walk that text without allocating: a member of an object, an
// element of an array, the scalars inside, one token at a time. They
// expect text the decoder accepted; on other text they stop early or
// return nonsense, but never read out of bounds.

// JSONMember returns the value text of the member named key in the object
// text obj, the last one if key appears twice (as Ruby's and Go's JSON
// parsers keep the last of duplicate keys).
func JSONMember(obj, key string) (string, bool) {
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

// JSONElement returns the value text of element idx of the array text arr;
// a negative index counts from the end, as in Ruby.
func JSONElement(arr string, idx int) (string, bool) {
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

// ValueOfJSON makes a Value of the text of one JSON value (what JSONMember
// and JSONElement return): strings are unescaped (a substring of text when
// there is nothing to unescape, otherwise decoded into *buf and valid until
// *buf is next written), arrays and objects stay text, numbers are not
// parsed (IsInt false). Empty text is KindAbsent.
func ValueOfJSON(text string, buf *[]byte) Value {
	if text == "" {
		return Value{Kind: KindAbsent}
	}
	switch text[0] {
	case '"':
		return Value{Str: UnquoteJSON(text, buf), Kind: KindString}
	case '{':
		return Value{Str: text, Kind: KindObject}
	case '[':
		return Value{Str: text, Kind: KindArray}
	case 't', 'f':
		return Value{Str: text, Kind: KindBool}
	case 'n':
		return Value{Str: text, Kind: KindNull}
	}
	return Value{Str: text, Kind: KindNumber}
}

// JSONScalars iterates over the scalar values (not the member names)
// inside array or object text, depth first. Strings come back unescaped;
// null is skipped.
type JSONScalars struct {
	s string
	i int
}

// ScanJSONScalars starts an iteration over the scalars of text.
func ScanJSONScalars(text string) JSONScalars { return JSONScalars{s: text} }

// Next returns the next scalar's text; a string decoded into *buf is valid
// until *buf is next written.
func (j *JSONScalars) Next(buf *[]byte) (string, bool) {
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
			return UnquoteJSON(tok, buf), true
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

// NextJSONToken returns the token of JSON text s at or after i (white
// space skipped) and the index just past it; tok is "" at the end. A token
// is a string with its quotes, a number, true, false, null, or one of the
// punctuation bytes { } [ ] : ,. Its first byte tells which.
func NextJSONToken(s string, i int) (tok string, next int) {
	i = skipWS(s, i)
	if i >= len(s) {
		return "", i
	}
	switch s[i] {
	case '{', '}', '[', ']', ':', ',':
		return s[i : i+1], i + 1
	case '"':
		e := stringEnd(s, i)
		return s[i:e], e
	}
	e := scalarEnd(s, i)
	if e == i { // not JSON: step over the byte rather than stall
		e++
	}
	return s[i:e], e
}

// UnquoteJSON decodes the JSON string token q (with its quotes). Without
// escapes it returns a substring of q; otherwise it decodes into *buf and
// the result is valid until *buf is next written.
func UnquoteJSON(q string, buf *[]byte) string {
	if len(q) < 2 {
		return ""
	}
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
	b := appendUnquoted((*buf)[:0], body)
	*buf = b
	return unsafe.String(unsafe.SliceData(b), len(b))
}

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
		return scalarEnd(s, i)
	}
}

// scalarEnd returns the index just past the number, true, false or null
// starting at i.
func scalarEnd(s string, i int) int {
	for i < len(s) && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ':' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
		i++
	}
	return i
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
	return len(s)
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
// without allocating for keys up to 64 bytes.
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
