package codec

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// The fast path of DecodeText handles records as felix writes them: one
// space between columns, canonical integers, ASCII or valid UTF-8. It
// finds column ends and parses integers eight bytes at a time. Anything
// else (tabs, runs of spaces, leading zeros, signs, errors) makes it give
// up, and decodeTextGeneral decodes the record again from the start, so
// both paths give the same Flow and the general one alone words the
// errors. FuzzDecodeText checks that they agree; TestDecodeTextFastPath
// that felix's records take the fast one.

const (
	swarOnes  = 0x0101010101010101
	swarHighs = 0x8080808080808080
	swarLow7  = 0x7f7f7f7f7f7f7f7f
)

// decodeTextFast decodes b (already trimmed of surrounding blanks) into f,
// which resetForText has prepared. It reports false when b needs the
// general path; f then holds part of the record.
//
// The common column kinds are written out inline: a call per column costs
// more than parsing it. (A two-pass variant that first finds every space
// without data-dependent branches, as simdjson does, measured twice as slow
// here.)
func decodeTextFast(b []byte, f *Flow) bool {
	var hi uint64 // OR of the bytes scanned: any high bit means non-ASCII
	i := 0
	for col := range textColumns {
		c := &textColumns[col]
		if i >= len(b) {
			return false
		}
		if b[i] == '-' && (i+1 == len(b) || b[i+1] == ' ') {
			f.vals[c.field] = Value{}
			if c.kind == colName {
				f.vals[c.field-1] = Value{}
			}
			i += 2
			continue
		}
		if c.kind == colInt && i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:]) ^ 0x30*swarOnes // digits become 0..9
			m := nonDigits(x)
			n := bits.TrailingZeros64(m) >> 3
			if n == 0 || n == 8 || b[i+n] != ' ' || (x&0xff == 0 && n > 1) {
				j, ok := f.fastIntLong(b, i, col)
				if !ok {
					return false
				}
				i = j
				continue
			}
			f.vals[c.field] = Value{Str: bstr(b[i : i+n]), Int: int64(eightDigits(x << (64 - 8*n))), Kind: KindNumber, IsInt: true}
			i += n + 1
			continue
		}
		// Find the end of the column, eight bytes at a time: the lowest
		// byte below '!' is found exactly; borrows only spoil those after it.
		j := i
		for {
			if j+8 > len(b) {
				for j < len(b) && b[j] > ' ' {
					hi |= uint64(b[j])
					j++
				}
				break
			}
			v := binary.LittleEndian.Uint64(b[j:])
			hi |= v
			if m := (v - 0x21*swarOnes) & ^v & swarHighs; m != 0 {
				j += bits.TrailingZeros64(m) >> 3
				break
			}
			j += 8
		}
		if j == i || j < len(b) && b[j] != ' ' {
			return false
		}
		switch c.kind {
		case colString:
			f.vals[c.field] = Value{Str: bstr(b[i:j]), Kind: KindString}
		case colName:
			v := Value{Str: bstr(b[i:j]), Kind: KindString}
			f.vals[c.field] = v
			if b[j-1] == '*' {
				v = Value{}
			}
			f.vals[c.field-1] = v
		case colIP:
			a, ok := parseIPv4(bstr(b[i:j]))
			if !ok {
				if f.setColumn(col, b[i:j], i) != nil {
					return false
				}
				break
			}
			f.putAddr(c.field, bstr(b[i:j]), a)
		case colProto:
			// Felix writes the number: 6, 17, 1, 58, 132.
			if p, ok := parseUint8(bstr(b[i:j])); ok && protoNames[p] != "" {
				f.vals[c.field] = Value{Str: protoNames[p], Int: p, Kind: KindString}
				break
			}
			if f.setColumn(col, b[i:j], i) != nil {
				return false
			}
		default:
			if f.setColumn(col, b[i:j], i) != nil {
				return false
			}
		}
		i = j + 1
	}
	if i != len(b)+1 {
		return false
	}
	if hi&swarHighs != 0 && !utf8.Valid(b) {
		// Columns split at ASCII spaces, so a valid line has valid columns;
		// an invalid one needs the general path to say which column.
		return false
	}
	f.set = textMask // fields not in the record hold zero Values: clearing them is harmless
	return true
}

// fastIntLong handles an integer column the one-word parse in
// decodeTextFast did not: eight to fifteen digits, two words at a time, and
// anything else (signs, leading zeros, the last bytes of the record) with
// the general path's column parser.
func (f *Flow) fastIntLong(b []byte, i, col int) (int, bool) {
	if i+16 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:]) ^ 0x30*swarOnes
		y := binary.LittleEndian.Uint64(b[i+8:]) ^ 0x30*swarOnes
		my := nonDigits(y)
		n := bits.TrailingZeros64(my) >> 3 // digits in the second word
		if nonDigits(x) == 0 && x&0xff != 0 && my != 0 && b[i+8+n] == ' ' {
			// For n == 0 the shift is by 64, which Go defines as giving 0.
			v := int64(eightDigits(x))*pow10[n] + int64(eightDigits(y<<(64-8*n)))
			f.vals[textColumns[col].field] = Value{Str: bstr(b[i : i+8+n]), Int: v, Kind: KindNumber, IsInt: true}
			return i + 9 + n, true
		}
	}
	j := i
	for j < len(b) && b[j] > ' ' {
		j++
	}
	if j == i || j < len(b) && b[j] != ' ' || f.setColumn(col, b[i:j], i) != nil {
		return 0, false
	}
	return j + 1, true
}

// nonDigits has the high bit set in every byte of x (a word XORed with '0'
// in every byte) that was not a decimal digit.
func nonDigits(x uint64) uint64 {
	// Masking bit 7 first keeps the add from carrying between bytes.
	return ((x &^ swarHighs) + 0x76*swarOnes | x) & swarHighs
}

// eightDigits converts eight digit values 0..9, the most significant in
// the lowest byte, to their number (simdjson's parse_eight_digits_unrolled).
func eightDigits(x uint64) uint32 {
	x = x*10 + x>>8
	x = ((x&0x000000FF000000FF)*(100+1000000<<32) + (x>>16&0x000000FF000000FF)*(1+10000<<32)) >> 32
	return uint32(x)
}

var pow10 = [8]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000}
