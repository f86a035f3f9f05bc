package codec

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unsafe"
)

// Text labels syntax: see the package documentation.
var (
	errEmptyLabel    = errors.New("empty label (two commas in a row, or a trailing comma)")
	errEmptyKey      = errors.New("label with an empty key")
	errUnclosedQuote = errors.New("label with an unclosed quote")
	errAfterQuote    = errors.New("label: expected ':' or '=' after a quoted key")
	errKeyEquals     = errors.New("label key contains '='")
)

func (f *Flow) setTextLabels(id Field, tok []byte) error {
	s := bstr(tok)
	if len(s) >= 2 && (s[0] == '[' && s[len(s)-1] == ']' || s[0] == '{' && s[len(s)-1] == '}') {
		s = s[1 : len(s)-1]
	}
	labels := f.srcLabels
	if id == DestLabels {
		labels = f.dstLabels
	}
	labels, ok := splitPlainLabels(s, labels[:0])
	if !ok {
		var err error
		if labels, err = splitLabels(s, labels[:0]); err != nil {
			return err
		}
	}
	if id == DestLabels {
		f.dstLabels = labels
	} else {
		f.srcLabels = labels
	}
	// The JSON text is rendered when first asked for (see Flow.pending).
	f.put(id, Value{Kind: KindObject})
	f.pending |= 1 << id
	return nil
}

// splitLabels parses the inside of a labels column in any accepted form.
func splitLabels(s string, labels []Label) ([]Label, error) {
	for s != "" {
		entry := s
		rest := ""
		for i := 0; i < len(s); i++ {
			if s[i] == ',' {
				entry, rest = s[:i], s[i+1:]
				if rest == "" {
					return labels, errEmptyLabel
				}
				break
			}
		}
		s = rest
		l, err := splitTextLabel(entry)
		if err != nil {
			return labels, err
		}
		labels = append(labels, l)
	}
	return labels, nil
}

// splitPlainLabels is the common case of a labels column: "k=v" entries
// with no quotes. It reports false for anything else, which the general
// splitLabels then parses or refuses. It looks for ',', '=' and
// '"' eight bytes at a time: label lists are most of a real record's bytes.
func splitPlainLabels(s string, labels []Label) ([]Label, bool) {
	start, eq := 0, -1 // the entry being read; its first '=', or -1
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		if zeroBytes(v^'"'*swarOnes) != 0 {
			return labels, false
		}
		for m := zeroBytes(v^','*swarOnes) | zeroBytes(v^'='*swarOnes); m != 0; m &= m - 1 {
			k := i + bits.TrailingZeros64(m)>>3
			if b[k] == '=' {
				if eq < 0 {
					eq = k
				}
				continue
			}
			if eq <= start { // no '=' (maybe "k:v"), or an empty key or entry
				return labels, false
			}
			labels = append(labels, Label{Key: s[start:eq], Value: s[eq+1 : k]})
			start, eq = k+1, -1
		}
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			return labels, false
		case '=':
			if eq < 0 {
				eq = i
			}
		case ',':
			if eq <= start {
				return labels, false
			}
			labels = append(labels, Label{Key: s[start:eq], Value: s[eq+1 : i]})
			start, eq = i+1, -1
		}
	}
	if eq <= start { // also an empty last entry (a trailing comma)
		return labels, false
	}
	return append(labels, Label{Key: s[start:eq], Value: s[eq+1:]}), true
}

// zeroBytes has the high bit set in exactly the bytes of x that are zero.
func zeroBytes(x uint64) uint64 {
	return ^((x&swarLow7 + swarLow7) | x | swarLow7)
}

func splitTextLabel(e string) (Label, error) {
	if e == "" {
		return Label{}, errEmptyLabel
	}
	var key, val string
	if e[0] == '"' {
		end := indexByte(e[1:], '"')
		if end < 0 {
			return Label{}, errUnclosedQuote
		}
		inner, rest := e[1:1+end], e[2+end:]
		switch {
		case rest == "": // "k=v"
			key, val = splitPair(inner)
		case rest[0] == ':' || rest[0] == '=':
			key, val = inner, rest[1:]
		default:
			return Label{}, errAfterQuote
		}
	} else {
		key, val = splitPair(e)
	}
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		val = val[1 : len(val)-1]
	} else if len(val) > 0 && (val[0] == '"' || val[len(val)-1] == '"') {
		return Label{}, errUnclosedQuote
	}
	if key == "" {
		return Label{}, errEmptyKey
	}
	if indexByte(key, '=') >= 0 {
		// Calico writes a label as "k=v" and splits at the first '=', so
		// such a key would not survive the trip to JSON.
		return Label{}, errKeyEquals
	}
	return Label{Key: key, Value: val}, nil
}

// splitPair splits at the first '=', or else the first ':'.
func splitPair(s string) (key, val string) {
	if i := indexByte(s, '='); i >= 0 {
		return s[:i], s[i+1:]
	}
	if i := indexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// appendLabelsJSON writes labels in Calico's shape: {"labels":["k=v",...]}.
func appendLabelsJSON(dst []byte, labels []Label) []byte {
	dst = append(dst, `{"labels":[`...)
	for i, l := range labels {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = appendEscaped(dst, l.Key)
		dst = append(dst, '=')
		dst = appendEscaped(dst, l.Value)
		dst = append(dst, '"')
	}
	return append(dst, "]}"...)
}

// labelFromEntry splits one Calico label entry ("k=v") at its first '='.
func labelFromEntry(s string) Label {
	if i := indexByte(s, '='); i >= 0 {
		return Label{Key: s[:i], Value: s[i+1:]}
	}
	return Label{Key: s}
}
