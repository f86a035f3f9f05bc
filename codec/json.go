package codec

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds nesting so a hostile record cannot exhaust the stack.
const maxDepth = 512

// extraIndexFrom is the number of extra members from which setExtra finds
// a repeated key through Flow.extraIdx instead of a scan: felix writes no
// extras, fluentd adds a few, a hostile record tens of thousands.
const extraIndexFrom = 16

// extraIndexKeep is the most slots of an index a Flow keeps for the next
// record (8 MiB; a record of 1 MiB holds at most about 170,000 members).
const extraIndexKeep = 1 << 20

// DecodeJSON parses one JSON object into f, replacing what f held. Any
// object is a record: Calico's fields are typed when present, other members
// go to Extra with their JSON text, and a value of an unexpected type keeps
// its Kind (typed accessors simply do not match it).
//
// Strings without escapes point into b; strings with escapes are unescaped
// into f's scratch buffer. Both are valid until b is modified or f is
// decoded into again. A member that appears twice: the last one wins and
// keeps the first one's position (as Go's encoding/json, which felix and
// Calico's tools use, does). When a record has both start_time and
// startTime (or end_time and endTime), the first one written is the field
// and the other is kept as an extra member.
//
// Anything that is not a single well-formed JSON object (truncated input,
// bad escapes, invalid UTF-8 in a string, control characters in a string,
// data after the closing brace) is a *SyntaxError with the byte offset;
// f then holds part of the record and is only good for decoding into.
//
// DecodeJSON's time is linear in len(b) whatever the members; it takes any
// number of them, and nesting up to 512 levels. Limits.Decode bounds both.
func DecodeJSON(b []byte, f *Flow) error {
	return decodeJSON(b, f, 0, maxDepth+1, false)
}

// decodeJSON decodes with at most members top-level members (0: any) and
// depth levels of nesting; limited makes a breach a *LimitError rather than
// the stack guard's *SyntaxError.
func decodeJSON(b []byte, f *Flow, members, depth int, limited bool) error {
	// The fast path writes every field it finds whole, so only those of
	// the previous record it did not find need clearing, afterwards: most
	// records of a source have the same fields, and clearing all of them
	// first costs about 30 ns, some 5 % of decoding a felix record.
	old := f.set
	f.set = 0
	f.Reset()
	f.format = FormatJSON
	if decodeJSONFast(b, f, members, depth) {
		for m := old &^ f.set; m != 0; m &= m - 1 {
			f.vals[bits.TrailingZeros64(m)] = Value{}
		}
		return nil
	}
	f.set = 1<<NumFields - 1 // the fast path may have written any field
	return decodeJSONGeneral(b, f, members, depth, limited)
}

// decodeJSONGeneral decodes any record, from the start, whatever the fast
// path left in f.
func decodeJSONGeneral(b []byte, f *Flow, members, depth int, limited bool) error {
	f.Reset()
	f.format = FormatJSON
	d := jsonDecoder{b: b, f: f, maxMembers: members, maxLevel: depth, limited: limited}
	return d.record()
}

type jsonDecoder struct {
	b   []byte
	i   int
	f   *Flow
	key string // member being read, for error messages

	maxMembers int  // most members of the record object; 0: any
	maxLevel   int  // most nesting levels, the record's object being 1
	limited    bool // maxLevel and maxMembers are Limits (a breach is a *LimitError)
}

func (d *jsonDecoder) errorf(off int, msg string) error {
	return &SyntaxError{Format: FormatJSON, Offset: off, Field: strings.Clone(d.key), Msg: msg}
}

func (d *jsonDecoder) unexpected(what string) error {
	if d.i >= len(d.b) {
		return d.errorf(d.i, "unexpected end of record, expected "+what)
	}
	return d.errorf(d.i, "unexpected "+quoteToken(d.b[d.i:d.i+1])+", expected "+what)
}

func (d *jsonDecoder) skipWS() {
	if d.i < len(d.b) && d.b[d.i] > ' ' {
		return
	}
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// hasKey reports whether the string at d.i is exactly the name of id and,
// if so, steps over it. It compares eight bytes at a time against the
// name's precomputed words instead of calling memequal.
func (d *jsonDecoder) hasKey(id Field) bool {
	kw := &keyWords[id]
	start := d.i + 1
	end := start + kw.n
	if end >= len(d.b) || d.b[end] != '"' {
		return false
	}
	b := d.b
	if kw.n >= 8 {
		for k := 0; k < kw.n/8; k++ {
			if binary.LittleEndian.Uint64(b[start+8*k:]) != kw.words[k] {
				return false
			}
		}
		if binary.LittleEndian.Uint64(b[end-8:]) != kw.last {
			return false
		}
	} else if start+8 <= len(b) {
		if binary.LittleEndian.Uint64(b[start:])&kw.mask != kw.last {
			return false
		}
	} else if bstr(b[start:end]) != fields[id].name {
		return false
	}
	d.i = end + 1
	return true
}

// keyWords holds each field name as little-endian words for hasKey.
var keyWords = func() (t [NumFields]struct {
	words      [4]uint64
	last, mask uint64 // last 8 bytes (n >= 8), or the masked name (n < 8)
	n          int
}) {
	for i := range fields {
		name := fields[i].name
		k := &t[i]
		k.n = len(name)
		var pad [40]byte
		copy(pad[:], name)
		for w := 0; w < len(name)/8; w++ {
			k.words[w] = binary.LittleEndian.Uint64(pad[8*w:])
		}
		if len(name) >= 8 {
			k.last = binary.LittleEndian.Uint64([]byte(name[len(name)-8:]))
		} else {
			k.mask = 1<<(8*len(name)) - 1
			k.last = binary.LittleEndian.Uint64(pad[:8])
		}
	}
	return t
}()

func (d *jsonDecoder) record() error {
	var err error
	d.skipWS()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return d.unexpected("'{' (a JSON record is an object)")
	}
	d.i++
	d.skipWS()
	var prev Field // the previous known member + 1; 0 at the start
	members := 0
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
	} else {
		for {
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return d.unexpected("a member name")
			}
			if members++; members > d.maxMembers && d.maxMembers > 0 {
				return &LimitError{Limit: LimitMembers, Max: d.maxMembers, Offset: d.i}
			}
			// Records of one source list their members in one order:
			// try the field that followed the previous one last time,
			// straight on the input, before scanning and hashing the name.
			var (
				key   string
				e     keyEntry
				known bool
			)
			if p := d.f.pred[prev]; p != 0 && d.hasKey(Field(p-1)) {
				key = fields[p-1].name
				e, known = keyEntry{name: key, field: Field(p - 1)}, true
			} else {
				key, err = d.readString()
				if err != nil {
					return err
				}
				e, known = lookupKey(key)
				if known && e.alias == 0 {
					d.f.pred[prev] = uint8(e.field) + 1
				}
			}
			d.key = key
			if known {
				prev = e.field + 1
			}
			if d.i < len(d.b) && d.b[d.i] == ':' {
				d.i++
			} else {
				d.skipWS()
				if d.i >= len(d.b) || d.b[d.i] != ':' {
					return d.unexpected("':' after the member name")
				}
				d.i++
			}
			d.skipWS()
			start := d.i
			f := d.f
			if known && f.vals[e.field].Kind != KindAbsent && (f.alias&bitFor(e.field) != 0) != (e.alias != 0) {
				known = false // the other spelling of a field already read: an extra
			}
			if known {
				// Known fields are read straight into their slot.
				id := e.field
				v := &f.vals[id]
				if v.Kind == KindAbsent {
					f.order = append(f.order, uint32(id))
					f.alias |= e.alias
					f.set |= 1 << id
				}
				if (id == SourceLabels || id == DestLabels) && d.i < len(d.b) && d.b[d.i] == '{' {
					// Checked and split in one pass.
					if err := d.readLabels(id); err != nil {
						return err
					}
					*v = Value{Str: bstr(d.b[start:d.i]), Kind: KindObject}
				} else {
					if err := d.readValue(v); err != nil {
						return err
					}
					if typed[id] {
						f.typeField(id, d.b, start)
					}
				}
			} else {
				var v Value
				if err := d.readValue(&v); err != nil {
					return err
				}
				f.setExtra(key, v, true)
			}
			if d.i < len(d.b) && d.b[d.i] == ',' {
				// Compact JSON (felix's): no blanks to skip.
				d.i++
				d.skipWS()
				continue
			}
			d.skipWS()
			if d.i < len(d.b) && d.b[d.i] == ',' {
				d.i++
				d.skipWS()
				continue
			}
			if d.i < len(d.b) && d.b[d.i] == '}' {
				d.i++
				break
			}
			return d.unexpected("',' or '}' after a member")
		}
	}
	d.skipWS()
	if d.i < len(d.b) {
		return d.errorf(d.i, "data after the record's closing '}'")
	}
	return nil
}

// strPlain marks the bytes a string can hold without a closer look.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanPlain returns the index of the first byte at or after j that a
// string scanner must look at ('"', '\\', a control character or a
// non-ASCII byte), or len(b). It tests eight bytes at a time: in each mask
// a false positive can only sit above a true hit, so the lowest set bit of
// their union is always a real one.
func scanPlain(b []byte, j int) int {
	for j+8 <= len(b) {
		v := binary.LittleEndian.Uint64(b[j:])
		const ones, highs = 0x0101010101010101, 0x8080808080808080
		q := v ^ (ones * '"')
		bs := v ^ (ones * '\\')
		m := (v-ones*0x20)&^v | (q-ones)&^q | (bs-ones)&^bs | v
		if m &= highs; m != 0 {
			return j + bits.TrailingZeros64(m)>>3
		}
		j += 8
	}
	for j < len(b) && strPlain[b[j]] {
		j++
	}
	return j
}

// readString reads the string at d.i (which holds '"').
func (d *jsonDecoder) readString() (string, error) {
	b := d.b
	start := d.i + 1
	j := scanPlain(b, start)
	for j < len(b) {
		c := b[j]
		if strPlain[c] {
			j = scanPlain(b, j)
			continue
		}
		switch {
		case c == '"':
			d.i = j + 1
			return bstr(b[start:j]), nil
		case c == '\\':
			return d.readEscapedString(start, j)
		case c < 0x20:
			return "", d.errorf(j, "control character in a string (must be escaped)")
		default:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size <= 1 {
				return "", d.errorf(j, "invalid UTF-8 in a string")
			}
			j += size
		}
	}
	return "", d.errorf(len(b), "unexpected end of record in a string")
}

// readEscapedString unescapes a string into the scratch buffer; j is the
// first backslash.
func (d *jsonDecoder) readEscapedString(start, j int) (string, error) {
	f, b := d.f, d.b
	s0 := len(f.scratch)
	f.scratch = append(f.scratch, b[start:j]...)
	for j < len(b) {
		c := b[j]
		switch {
		case strPlain[c]:
			f.scratch = append(f.scratch, c)
			j++
		case c == '"':
			d.i = j + 1
			return bstr(f.scratch[s0:]), nil
		case c == '\\':
			if j+1 >= len(b) {
				return "", d.errorf(len(b), "unexpected end of record in a string escape")
			}
			e := b[j+1]
			switch e {
			case '"', '\\', '/':
				f.scratch = append(f.scratch, e)
			case 'b':
				f.scratch = append(f.scratch, '\b')
			case 'f':
				f.scratch = append(f.scratch, '\f')
			case 'n':
				f.scratch = append(f.scratch, '\n')
			case 'r':
				f.scratch = append(f.scratch, '\r')
			case 't':
				f.scratch = append(f.scratch, '\t')
			case 'u':
				r, n, err := d.unicodeEscape(j)
				if err != nil {
					return "", err
				}
				f.scratch = utf8.AppendRune(f.scratch, r)
				j += n
				continue
			default:
				return "", d.errorf(j, "invalid escape "+quoteToken(b[j:j+2])+" in a string")
			}
			j += 2
		case c < 0x20:
			return "", d.errorf(j, "control character in a string (must be escaped)")
		default:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size <= 1 {
				return "", d.errorf(j, "invalid UTF-8 in a string")
			}
			f.scratch = append(f.scratch, b[j:j+size]...)
			j += size
		}
	}
	return "", d.errorf(len(b), "unexpected end of record in a string")
}

// unicodeEscape decodes \uXXXX at j, joining a surrogate pair; a lone
// surrogate becomes U+FFFD as Go's encoding/json does. n is the bytes read.
func (d *jsonDecoder) unicodeEscape(j int) (r rune, n int, err error) {
	r1, ok := hex4(d.b, j+2)
	if !ok {
		return 0, 0, d.errorf(j, "invalid \\u escape in a string")
	}
	if r1 < 0xD800 || r1 > 0xDFFF {
		return r1, 6, nil
	}
	if r1 <= 0xDBFF && j+7 < len(d.b) && d.b[j+6] == '\\' && d.b[j+7] == 'u' {
		if r2, ok := hex4(d.b, j+8); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
			return 0x10000 + (r1-0xD800)<<10 + (r2 - 0xDC00), 12, nil
		}
	}
	return utf8.RuneError, 6, nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// readValue reads the value at d.i into v. Non-strings keep their JSON
// text in Str.
func (d *jsonDecoder) readValue(v *Value) error {
	if d.i >= len(d.b) {
		return d.unexpected("a value")
	}
	start := d.i
	var err error
	switch c := d.b[d.i]; {
	case c == '"':
		var s string
		s, err = d.readString()
		*v = Value{Str: s, Kind: KindString}
	case c == '{' || c == '[':
		if err = d.skipComposite(0); err != nil {
			return err
		}
		k := KindObject
		if c == '[' {
			k = KindArray
		}
		*v = Value{Str: bstr(d.b[start:d.i]), Kind: k}
	case c == '-' || '0' <= c && c <= '9':
		*v, err = d.readNumber()
	case c == 't':
		*v, err = d.literal("true", KindBool)
	case c == 'f':
		*v, err = d.literal("false", KindBool)
	case c == 'n':
		*v, err = d.literal("null", KindNull)
	default:
		return d.unexpected("a value")
	}
	return err
}

func (d *jsonDecoder) literal(lit string, k Kind) (Value, error) {
	if len(d.b)-d.i < len(lit) || bstr(d.b[d.i:d.i+len(lit)]) != lit {
		end := min(d.i+len(lit), len(d.b))
		return Value{}, d.errorf(d.i, "invalid literal "+quoteToken(d.b[d.i:end])+", expected "+lit)
	}
	start := d.i
	d.i += len(lit)
	return Value{Str: bstr(d.b[start:d.i]), Kind: k}, nil
}

// readNumber checks JSON number syntax and, for integers that fit, computes
// the value on the way.
func (d *jsonDecoder) readNumber() (Value, error) {
	b := d.b
	start := d.i
	j := d.i
	neg := false
	if b[j] == '-' {
		neg = true
		j++
	}
	if j >= len(b) || b[j] < '0' || b[j] > '9' {
		d.i = j
		return Value{}, d.unexpected("a digit")
	}
	var u uint64
	overflow := false
	if b[j] == '0' {
		j++
	} else {
		// Up to 19 digits cannot overflow a uint64; more cannot be an
		// int64 anyway.
		d0 := j
		for j < len(b) && b[j]-'0' <= 9 {
			u = u*10 + uint64(b[j]-'0')
			j++
		}
		overflow = j-d0 > 19
	}
	isInt := true
	if j < len(b) && b[j] == '.' {
		isInt = false
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			d.i = j
			return Value{}, d.unexpected("a digit after '.'")
		}
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		isInt = false
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			d.i = j
			return Value{}, d.unexpected("a digit in the exponent")
		}
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
	}
	d.i = j
	v := Value{Str: bstr(b[start:j]), Kind: KindNumber}
	if isInt && !overflow {
		switch {
		case !neg && u <= 1<<63-1:
			v.Int, v.IsInt = int64(u), true
		case neg && u <= 1<<63:
			v.Int, v.IsInt = -int64(u), true
		}
	}
	return v, nil
}

// skipComposite checks the object or array at d.i without keeping anything.
//
// depth is 0 for a value of the record's own members: the composite is
// then the second level of nesting.
func (d *jsonDecoder) skipComposite(depth int) error {
	if depth+2 > d.maxLevel {
		if d.limited {
			return &LimitError{Limit: LimitDepth, Max: d.maxLevel, Offset: d.i}
		}
		return d.errorf(d.i, "nesting deeper than 512 levels")
	}
	open := d.b[d.i]
	closer := byte('}')
	if open == '[' {
		closer = ']'
	}
	d.i++
	d.skipWS()
	if d.i < len(d.b) && d.b[d.i] == closer {
		d.i++
		return nil
	}
	for {
		if open == '{' {
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return d.unexpected("a member name")
			}
			if err := d.skipString(); err != nil {
				return err
			}
			if d.i < len(d.b) && d.b[d.i] == ':' {
				d.i++
			} else {
				d.skipWS()
				if d.i >= len(d.b) || d.b[d.i] != ':' {
					return d.unexpected("':' after the member name")
				}
				d.i++
			}
			d.skipWS()
		}
		if err := d.skipValue(depth); err != nil {
			return err
		}
		d.skipWS()
		if d.i < len(d.b) && d.b[d.i] == ',' {
			d.i++
			d.skipWS()
			continue
		}
		if d.i < len(d.b) && d.b[d.i] == closer {
			d.i++
			return nil
		}
		return d.unexpected("',' or '" + string(closer) + "'")
	}
}

func (d *jsonDecoder) skipValue(depth int) error {
	if d.i >= len(d.b) {
		return d.unexpected("a value")
	}
	switch c := d.b[d.i]; {
	case c == '"':
		return d.skipString()
	case c == '{' || c == '[':
		return d.skipComposite(depth + 1)
	}
	var v Value
	return d.readValue(&v)
}

// skipString checks the string at d.i: escapes, control characters, UTF-8.
func (d *jsonDecoder) skipString() error {
	b := d.b
	j := scanPlain(b, d.i+1)
	for j < len(b) {
		c := b[j]
		if strPlain[c] {
			j = scanPlain(b, j)
			continue
		}
		switch {
		case c == '"':
			d.i = j + 1
			return nil
		case c == '\\':
			if j+1 >= len(b) {
				return d.errorf(len(b), "unexpected end of record in a string escape")
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if _, ok := hex4(b, j+2); !ok {
					return d.errorf(j, "invalid \\u escape in a string")
				}
				j += 6
			default:
				return d.errorf(j, "invalid escape "+quoteToken(b[j:j+2])+" in a string")
			}
		case c < 0x20:
			return d.errorf(j, "control character in a string (must be escaped)")
		default:
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size <= 1 {
				return d.errorf(j, "invalid UTF-8 in a string")
			}
			j += size
		}
	}
	return d.errorf(len(b), "unexpected end of record in a string")
}

// setExtra stores a member the model does not know; a repeated key
// replaces the earlier value in place. Past extraIndexFrom extras the
// earlier keys are found through an index (extraIndex), so a record of
// many members costs time linear in them, not quadratic. inOrder adds a
// new member to f.order (a JSON record's member order).
func (f *Flow) setExtra(key string, v Value, inOrder bool) {
	n := len(f.extra)
	if n < extraIndexFrom {
		for i := range f.extra {
			if f.extra[i].Key == key {
				f.extra[i].Value = v
				return
			}
		}
	} else {
		x := &f.extraIdx
		if x.n == 0 {
			x.build(f.extra)
		}
		if i, ok := x.find(f.extra, key); ok {
			f.extra[i].Value = v
			return
		}
		x.add(f.extra, key, n)
	}
	if inOrder {
		f.order = append(f.order, uint32(NumFields)+uint32(n))
	}
	f.extra = append(f.extra, Member{Key: key, Value: v})
}

// resetExtra empties the extras and their index.
func (f *Flow) resetExtra() {
	f.extra = f.extra[:0]
	f.extraIdx.reset()
}

// extraIndex finds an extra member by key: an open-addressing table of
// positions in Flow.extra, hashed with a per-Flow random seed (so a record
// cannot be crafted to collide). It is a table of integers rather than a
// map[string]int because clearing and growing it for every record of many
// members must stay cheap.
type extraIndex struct {
	slots []uint64 // hash<<32 | position+1; 0 is empty
	n     int      // positions held; 0: not built for this record
	seed  maphash.Seed
	// probes counts the slots looked at since the index was built for
	// this record: the work, which tests check grows linearly.
	probes int
}

func (x *extraIndex) hash(key string) uint64 {
	return maphash.String(x.seed, key)
}

// build indexes extra, whose keys are distinct, in a table with room for
// twice as many.
func (x *extraIndex) build(extra []Member) {
	if x.slots == nil {
		x.seed = maphash.MakeSeed()
	}
	size := 64
	for size < 4*len(extra) {
		size *= 2
	}
	x.probes = 0
	x.rebuild(extra, size)
}

// rebuild indexes extra afresh in a table of size slots, reusing the
// table's memory when it is large enough.
func (x *extraIndex) rebuild(extra []Member, size int) {
	if cap(x.slots) < size {
		x.slots = make([]uint64, size)
	} else {
		x.slots = x.slots[:size]
		clear(x.slots)
	}
	x.n = 0
	for i := range extra {
		x.put(x.hash(extra[i].Key), i)
	}
}

// find returns the position of key in extra.
func (x *extraIndex) find(extra []Member, key string) (int, bool) {
	h := x.hash(key)
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		x.probes++
		s := x.slots[i]
		if s == 0 {
			return 0, false
		}
		if s>>32 == h>>32 {
			if p := int(uint32(s)) - 1; extra[p].Key == key {
				return p, true
			}
		}
	}
}

// add indexes key at position pos, growing the table past half full.
func (x *extraIndex) add(extra []Member, key string, pos int) {
	if 2*(x.n+1) > len(x.slots) {
		x.rebuild(extra[:pos], 2*len(x.slots))
	}
	x.put(x.hash(key), pos)
}

func (x *extraIndex) put(h uint64, pos int) {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
		x.probes++
	}
	x.probes++
	x.slots[i] = h>>32<<32 | uint64(pos+1)
	x.n++
}

// reset empties the table for the next record. Only a record that used
// it pays, for the slots it used; the memory stays for the next such
// record unless it is very large.
func (x *extraIndex) reset() {
	if x.n == 0 {
		return
	}
	if cap(x.slots) > extraIndexKeep {
		x.slots = nil
	} else {
		clear(x.slots)
		x.slots = x.slots[:0]
	}
	x.n = 0
}

func bitFor(id Field) uint8 {
	switch id {
	case StartTime:
		return aliasStart
	case EndTime:
		return aliasEnd
	}
	return 0
}

// typed marks the fields typeField has work for.
var typed = [NumFields]bool{SourceIP: true, DestIP: true, SourceLabels: true, DestLabels: true, Proto: true}

// typeField derives the typed views of a known field just read: addresses,
// labels, the protocol number.
func (f *Flow) typeField(id Field, b []byte, off int) {
	v := &f.vals[id]
	switch id {
	case SourceIP, DestIP:
		var a netip.Addr
		if v.Kind == KindString {
			if p, ok := parseIPv4(v.Str); ok {
				a = p
			} else if p, err := netip.ParseAddr(v.Str); err == nil {
				a = p.Unmap()
			}
		}
		if id == SourceIP {
			f.srcIP = a
		} else {
			f.dstIP = a
		}
	case SourceLabels, DestLabels:
		labels := f.srcLabels[:0]
		if id == DestLabels {
			labels = f.dstLabels[:0]
		}
		if v.Kind == KindObject {
			d := jsonDecoder{b: b, i: off, f: f}
			labels = d.labels(labels)
		}
		if id == DestLabels {
			f.dstLabels = labels
		} else {
			f.srcLabels = labels
		}
	case Proto:
		if v.Kind == KindString {
			if n, ok := protoNumber(v.Str); ok {
				v.Int = n
			}
		}
	}
}

// readLabels reads the object at d.i, checking it as skipComposite does,
// and stores the entries of its "labels" member (Calico's
// {"labels":["k=v",...]}) as the labels of id. Entries that are not strings
// are passed over; when "labels" appears twice the last one wins.
func (d *jsonDecoder) readLabels(id Field) error {
	f := d.f
	labels := f.srcLabels[:0]
	if id == DestLabels {
		labels = f.dstLabels[:0]
	}
	labels, err := d.readLabelsObject(labels)
	if id == DestLabels {
		f.dstLabels = labels
	} else {
		f.srcLabels = labels
	}
	return err
}

func (d *jsonDecoder) readLabelsObject(labels []Label) ([]Label, error) {
	d.i++ // '{'
	d.skipWS()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return labels, nil
	}
	for {
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return labels, d.unexpected("a member name")
		}
		key, err := d.readString()
		if err != nil {
			return labels, err
		}
		d.skipWS()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return labels, d.unexpected("':' after the member name")
		}
		d.i++
		d.skipWS()
		if key != "labels" {
			if err := d.skipValue(0); err != nil {
				return labels, err
			}
		} else if labels = labels[:0]; d.i >= len(d.b) || d.b[d.i] != '[' {
			if err := d.skipValue(0); err != nil {
				return labels, err
			}
		} else {
			d.i++
			d.skipWS()
			if d.i < len(d.b) && d.b[d.i] == ']' {
				d.i++
			} else {
				for {
					if d.i < len(d.b) && d.b[d.i] == '"' {
						s, err := d.readString()
						if err != nil {
							return labels, err
						}
						labels = append(labels, labelFromEntry(s))
					} else if err := d.skipValue(1); err != nil {
						return labels, err
					}
					d.skipWS()
					if d.i < len(d.b) && d.b[d.i] == ',' {
						d.i++
						d.skipWS()
						continue
					}
					if d.i < len(d.b) && d.b[d.i] == ']' {
						d.i++
						break
					}
					return labels, d.unexpected("',' or ']'")
				}
			}
		}
		d.skipWS()
		if d.i < len(d.b) && d.b[d.i] == ',' {
			d.i++
			d.skipWS()
			continue
		}
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			return labels, nil
		}
		return labels, d.unexpected("',' or '}'")
	}
}

// labels reads Calico's {"labels":["k=v",...]} at d.i, already checked by
// skipComposite. Entries that are not strings are passed over; when
// "labels" appears twice the last one wins.
func (d *jsonDecoder) labels(dst []Label) []Label {
	d.i++ // '{'
	for {
		d.skipWS()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return dst
		}
		key, err := d.readString()
		if err != nil {
			return dst
		}
		d.skipWS()
		d.i++ // ':'
		d.skipWS()
		if key == "labels" && d.i < len(d.b) && d.b[d.i] == '[' {
			dst = dst[:0]
			d.i++
			for {
				d.skipWS()
				if d.i >= len(d.b) || d.b[d.i] == ']' {
					d.i++
					break
				}
				if d.b[d.i] == '"' {
					s, err := d.readString()
					if err != nil {
						return dst
					}
					dst = append(dst, labelFromEntry(s))
				} else if d.skipValue(1) != nil {
					return dst
				}
				d.skipWS()
				if d.i < len(d.b) && d.b[d.i] == ',' {
					d.i++
				}
			}
		} else {
			if key == "labels" {
				dst = dst[:0]
			}
			if d.skipValue(1) != nil {
				return dst
			}
		}
		d.skipWS()
		if d.i >= len(d.b) || d.b[d.i] != ',' {
			return dst
		}
		d.i++
	}
}
