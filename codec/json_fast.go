package codec

import (
	"encoding/binary"
	"math/bits"
)

// The fast path of DecodeJSON handles records as felix writes them:
// compact JSON (no blanks between tokens), ASCII strings without escapes,
// integers, each known field once. It keeps its position in local variables
// and writes the member loop out inline, where the general decoder keeps
// it in its struct, which the compiler reloads from memory on every access
// and across its many small calls. Anything else (blanks, escapes,
// non-ASCII or control bytes, fractions and exponents, negative or long
// numbers, a repeated known field or both spellings of a time, a limit that
// could be reached, any error) makes it give up, and decodeJSONGeneral
// decodes the record again from the start, so both paths give the same
// Flow and the general one alone words the errors. FuzzDecodeJSONFast
// checks that they agree; TestDecodeJSONFastPath that felix's records take
// the fast one.

// fastMaxLevel is the deepest nesting the fast path follows (the record's
// object being level 1); deeper records are rare enough for the general
// path, and the open composites fit one word's bits.
const fastMaxLevel = 64

// keyPats holds each field's member name as written, `"name":`, in
// little-endian words with a mask of the bytes that count, so the member
// the previous record had next is checked, quotes and colon included, with
// five word compares and no branch that depends on the name's length.
var keyPats = func() (t [NumFields]keyPat) {
	for i := range fields {
		pat := `"` + fields[i].name + `":`
		k := &t[i]
		k.n, k.pat = len(pat), pat
		var pad, mask [8 * len(k.words)]byte
		copy(pad[:], pat)
		for j := range pat {
			mask[j] = 0xff
		}
		for w := range k.words {
			k.words[w] = binary.LittleEndian.Uint64(pad[8*w:])
			k.masks[w] = binary.LittleEndian.Uint64(mask[8*w:])
		}
	}
	return t
}()

type keyPat struct {
	words, masks [5]uint64 // the longest name, 31 bytes, takes 34 with quotes and colon
	n            int
	pat          string // for the last 40 bytes of a record
}

// decodeJSONFast decodes b into f, which decodeJSON has reset. It reports
// false when b needs the general path; f then holds part of the record,
// and Flow.set does not say which fields.
//
// maxMembers and maxLevel are decodeJSON's: the fast path gives up before
// either could be broken, so only the general path reports a breach.
//
// The loop is written for the compiler's register allocator as much as for
// the reader: few values live across a member (the position, the previous
// field, the fields written), the rare cases in calls, each value written
// straight into its slot.
func decodeJSONFast(b []byte, f *Flow, maxMembers, maxLevel int) bool {
	if len(b) < 2 || b[0] != '{' {
		return false
	}
	if b[1] == '}' {
		return blanksOnly(b[2:])
	}
	if maxMembers <= 0 {
		maxMembers = len(b) // any: a member takes more than a byte
	}
	var (
		set   uint64 // the fields written (Flow.set; on giving up decodeJSON has Reset clear them all)
		prev  Field  // the previous known member + 1; 0 at the start
		extra Value  // an unknown member's value, for setExtra
	)
	i := 1
	for left := maxMembers; ; left-- {
		if left == 0 {
			return false
		}
		name := i

		// The member name: first the field that followed the previous
		// one in the last record (Flow.pred), as the general path does,
		// checked with five word compares and no branch on its length.
		id := NumFields // not a known field
		if p := f.pred[prev]; p != 0 {
			k := &keyPats[p-1]
			if i+40 <= len(b) {
				// An array pointer: one bounds check for the five loads.
				w := (*[40]byte)(b[i : i+40])
				if (binary.LittleEndian.Uint64(w[0:])^k.words[0])&k.masks[0]|
					(binary.LittleEndian.Uint64(w[8:])^k.words[1])&k.masks[1]|
					(binary.LittleEndian.Uint64(w[16:])^k.words[2])&k.masks[2]|
					(binary.LittleEndian.Uint64(w[24:])^k.words[3])&k.masks[3]|
					(binary.LittleEndian.Uint64(w[32:])^k.words[4])&k.masks[4] == 0 {
					id = Field(p - 1)
					i += k.n
				}
			} else if i+k.n <= len(b) && bstr(b[i:i+k.n]) == k.pat { // the last members
				id = Field(p - 1)
				i += k.n
			}
		}
		if id == NumFields {
			var ok bool
			if id, i, ok = f.fastName(b, i, prev); !ok {
				return false
			}
		}
		dst := &extra
		if id < NumFields {
			if set&(1<<id) != 0 {
				// A repeated member, or both spellings of a time: the
				// general path keeps the first one's place or makes the
				// second an extra.
				return false
			}
			set |= 1 << id
			f.order = append(f.order, uint32(id))
			prev = id + 1
			dst = &f.vals[id]
		}

		// The value: numbers and strings inline, being most of them.
		if i+1 >= len(b) {
			return false
		}
		if c := b[i]; c-'0' <= 9 {
			// Up to 15 digits (Unix times, counters), eight at a time;
			// longer numbers go the general way.
			var n int
			var u uint64
			if i+16 <= len(b) {
				w := (*[16]byte)(b[i : i+16])
				x := binary.LittleEndian.Uint64(w[:]) ^ 0x30*swarOnes
				if m := nonDigits(x); m != 0 {
					n = bits.TrailingZeros64(m) >> 3
					u = uint64(eightDigits(x << (64 - 8*n)))
				} else {
					y := binary.LittleEndian.Uint64(w[8:]) ^ 0x30*swarOnes
					my := nonDigits(y)
					if my == 0 {
						return false
					}
					k := bits.TrailingZeros64(my) >> 3
					// For k == 0 the shift is by 64, which Go defines as giving 0.
					u = uint64(eightDigits(x))*uint64(pow10[k]) + uint64(eightDigits(y<<(64-8*k)))
					n = 8 + k
				}
			} else {
				for j := i; j < len(b) && b[j]-'0' <= 9; j++ {
					u = u*10 + uint64(b[j]-'0')
					n++
				}
				if n > 15 {
					return false
				}
			}
			if c == '0' && n > 1 {
				return false
			}
			*dst = Value{Str: bstr(b[i : i+n]), Int: int64(u), Kind: KindNumber, IsInt: true}
			i += n
		} else if c == '"' {
			// As scanPlain, inline.
			j := i + 1
			for {
				if j+8 > len(b) {
					for j < len(b) && strPlain[b[j]] {
						j++
					}
					break
				}
				w := binary.LittleEndian.Uint64((*[8]byte)(b[j : j+8])[:])
				q := w ^ (swarOnes * '"')
				bs := w ^ (swarOnes * '\\')
				if m := ((w-swarOnes*0x20)&^w | (q-swarOnes)&^q | (bs-swarOnes)&^bs | w) & swarHighs; m != 0 {
					j += bits.TrailingZeros64(m) >> 3
					break
				}
				j += 8
			}
			if j >= len(b) || b[j] != '"' {
				return false
			}
			*dst = Value{Str: bstr(b[i+1 : j]), Kind: KindString}
			i = j + 1
			if typedStrings>>id&1 != 0 {
				f.typeFast(id)
			}
		} else if c == 'n' && i+4 <= len(b) && binary.LittleEndian.Uint32(b[i:]) == 'n'|'u'<<8|'l'<<16|'l'<<24 {
			*dst = Value{Str: bstr(b[i : i+4]), Kind: KindNull}
			i += 4
		} else {
			var ok bool
			if i, ok = f.fastValue(b, i, id, dst, maxLevel); !ok {
				return false
			}
		}

		if id == NumFields {
			// An unknown member: setExtra, shared with the general path,
			// keeps it (and replaces a repeated one in place).
			f.setExtra(bstr(b[name+1:scanPlain(b, name+1)]), extra, true)
		}

		if i >= len(b) {
			return false
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '}' || !blanksOnly(b[i+1:]) {
			return false
		}
		f.set = set
		return true
	}
}

// typedStrings marks the fields whose string values have typed views
// (typeField): the addresses and the protocol.
const typedStrings = 1<<SourceIP | 1<<DestIP | 1<<Proto

// typeFast derives the typed view of the string just stored in id, one of
// typedStrings: as typeField, with the dotted quad parsed here.
func (f *Flow) typeFast(id Field) {
	if id != Proto {
		if a, ok := parseIPv4(f.vals[id].Str); ok {
			if id == SourceIP {
				f.srcIP = a
			} else {
				f.dstIP = a
			}
			return
		}
	}
	f.typeField(id, nil, 0) // b and off are only for labels
}

// fastName reads the member name at b[i] that the predicted field did not
// match: a known field (updating Flow.pred and, for startTime/endTime,
// Flow.alias, as the general path does) or NumFields. It returns the index
// after the colon.
func (f *Flow) fastName(b []byte, i int, prev Field) (Field, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false
	}
	j := scanPlain(b, i+1)
	if j+1 >= len(b) || b[j] != '"' || b[j+1] != ':' {
		return 0, 0, false
	}
	e, ok := lookupKey(bstr(b[i+1 : j]))
	if !ok {
		return NumFields, j + 2, true
	}
	if e.alias == 0 { // as the general path: a spelling predicts only itself
		f.pred[prev] = uint8(e.field) + 1
	}
	f.alias |= e.alias // if the field was read already, decodeJSONFast gives up
	return e.field, j + 2, true
}

// fastValue reads the value at b[i] that is not a number, a string or
// null into *dst, returning the index after it.
func (f *Flow) fastValue(b []byte, i int, id Field, dst *Value, maxLevel int) (int, bool) {
	switch c := b[i]; {
	case c == 't':
		if i+4 > len(b) || bstr(b[i:i+4]) != "true" {
			return 0, false
		}
		*dst = Value{Str: bstr(b[i : i+4]), Kind: KindBool}
		return i + 4, true
	case c == 'f':
		if i+5 > len(b) || bstr(b[i:i+5]) != "false" {
			return 0, false
		}
		*dst = Value{Str: bstr(b[i : i+5]), Kind: KindBool}
		return i + 5, true
	case c == '{' && (id == SourceLabels || id == DestLabels):
		j, ok := f.fastLabels(b, i, id)
		if !ok {
			return 0, false
		}
		*dst = Value{Str: bstr(b[i:j]), Kind: KindObject}
		return j, true
	case c == '{' || c == '[':
		j, ok := skipCompact(b, i, min(maxLevel, fastMaxLevel))
		if !ok {
			return 0, false
		}
		k := KindObject
		if c == '[' {
			k = KindArray
		}
		*dst = Value{Str: bstr(b[i:j]), Kind: k}
		return j, true
	}
	return 0, false
}

// blanksOnly reports whether b holds only what the general path skips
// after a record.
func blanksOnly(b []byte) bool {
	for _, c := range b {
		if !isBlank(c) {
			return false
		}
	}
	return true
}

// fastLabels reads labels in the one shape felix writes,
// {"labels":["k=v",...]}, at b[i], as the labels of id. It returns the
// index after the object; false for any other shape.
func (f *Flow) fastLabels(b []byte, i int, id Field) (int, bool) {
	const open = `{"labels":[`
	j := i + len(open)
	if j+2 > len(b) || bstr(b[i:j]) != open {
		return 0, false
	}
	labels := f.srcLabels[:0]
	if id == DestLabels {
		labels = f.dstLabels[:0]
	}
	if b[j] == ']' {
		j++
	} else {
		for {
			if j >= len(b) || b[j] != '"' {
				return 0, false
			}
			// As scanPlain, also finding the first '=' (labelFromEntry's
			// split) in the same words: labels are a good part of a
			// record's bytes.
			s, e, eq := j+1, j+1, -1
			for {
				if e+8 > len(b) {
					for ; e < len(b) && strPlain[b[e]]; e++ {
						if eq < 0 && b[e] == '=' {
							eq = e
						}
					}
					break
				}
				w := binary.LittleEndian.Uint64((*[8]byte)(b[e : e+8])[:])
				q := w ^ (swarOnes * '"')
				bs := w ^ (swarOnes * '\\')
				m := ((w-swarOnes*0x20)&^w | (q-swarOnes)&^q | (bs-swarOnes)&^bs | w) & swarHighs
				eqs := zeroBytes(w ^ (swarOnes * '='))
				if m != 0 {
					eqs &= m&-m - 1 // only those before the end
				}
				if eq < 0 && eqs != 0 {
					eq = e + bits.TrailingZeros64(eqs)>>3
				}
				if m != 0 {
					e += bits.TrailingZeros64(m) >> 3
					break
				}
				e += 8
			}
			if e >= len(b) || b[e] != '"' {
				return 0, false
			}
			if eq < 0 {
				labels = append(labels, Label{Key: bstr(b[s:e])})
			} else {
				labels = append(labels, Label{Key: bstr(b[s:eq]), Value: bstr(b[eq+1 : e])})
			}
			j = e + 1
			if j < len(b) && b[j] == ',' {
				j++
				continue
			}
			if j < len(b) && b[j] == ']' {
				j++
				break
			}
			return 0, false
		}
	}
	if id == DestLabels {
		f.dstLabels = labels
	} else {
		f.srcLabels = labels
	}
	if j >= len(b) || b[j] != '}' {
		return 0, false
	}
	return j + 1, true
}

// skipCompact returns the index after the compact array or object at b[i]
// (a value of a record's member, so at level 2), checking it as
// skipComposite would. It reports false for anything the fast path leaves
// to the general one, and for nesting deeper than maxLevel, so the general
// path alone decides whether a limit is broken.
func skipCompact(b []byte, i, maxLevel int) (int, bool) {
	var objects uint64 // bit k: the composite k levels up from the innermost is an object
	open := 0          // composites open
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if open+2 > maxLevel {
				return 0, false
			}
			open++
			objects <<= 1
			i++
			if i >= len(b) {
				return 0, false
			}
			if c == '{' {
				objects |= 1
				if b[i] != '}' {
					j, ok := compactName(b, i)
					if !ok {
						return 0, false
					}
					i = j
					continue
				}
			} else if b[i] != ']' {
				continue
			}
			// An empty composite: its closer is handled below.
		case c == '"':
			j := scanPlain(b, i+1)
			if j >= len(b) || b[j] != '"' {
				return 0, false
			}
			i = j + 1
		case c-'0' <= 9 || c == '-':
			j := i
			if c == '-' {
				j++
			}
			if j >= len(b) || b[j]-'0' > 9 {
				return 0, false
			}
			if b[j] == '0' {
				j++ // a leading zero stands alone; a digit after it fails below
			} else {
				for j < len(b) && b[j]-'0' <= 9 {
					j++
				}
			}
			i = j
		case c == 'n':
			if i+4 > len(b) || bstr(b[i:i+4]) != "null" {
				return 0, false
			}
			i += 4
		case c == 't':
			if i+4 > len(b) || bstr(b[i:i+4]) != "true" {
				return 0, false
			}
			i += 4
		case c == 'f':
			if i+5 > len(b) || bstr(b[i:i+5]) != "false" {
				return 0, false
			}
			i += 5
		default:
			return 0, false
		}
		// After a value (or at an empty composite's closer): close what
		// ends here, until a ',' starts the next value.
		for {
			if i >= len(b) {
				return 0, false
			}
			c := b[i]
			if c == ',' {
				i++
				if objects&1 != 0 {
					j, ok := compactName(b, i)
					if !ok {
						return 0, false
					}
					i = j
				}
				break
			}
			if c != "]}"[objects&1] {
				return 0, false
			}
			i++
			open--
			objects >>= 1
			if open == 0 {
				return i, true
			}
		}
	}
}

// compactName steps over a member name and its colon at b[i].
func compactName(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	j := scanPlain(b, i+1)
	if j+1 >= len(b) || b[j] != '"' || b[j+1] != ':' {
		return 0, false
	}
	return j + 2, true
}
