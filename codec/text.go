package codec

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"unicode/utf8"
	"unsafe"
)

type columnKind uint8

const (
	colString columnKind = iota
	colInt
	colName // srcName/dstName: fills *_name_aggr, and *_name unless aggregated
	colLabels
	colIP
	colProto
)

// textColumns are the 24 columns of the documented text format, in order,
// with the Calico JSON field each one fills.
var textColumns = [...]struct {
	name  string
	field Field
	kind  columnKind
}{
	{"startTime", StartTime, colInt},
	{"endTime", EndTime, colInt},
	{"srcType", SourceType, colString},
	{"srcNamespace", SourceNamespace, colString},
	{"srcName", SourceNameAggr, colName},
	{"srcLabels", SourceLabels, colLabels},
	{"dstType", DestType, colString},
	{"dstNamespace", DestNamespace, colString},
	{"dstName", DestNameAggr, colName},
	{"dstLabels", DestLabels, colLabels},
	{"srcIP", SourceIP, colIP},
	{"dstIP", DestIP, colIP},
	{"proto", Proto, colProto},
	{"srcPort", SourcePort, colInt},
	{"dstPort", DestPort, colInt},
	{"numFlows", NumFlows, colInt},
	{"numFlowsStarted", NumFlowsStarted, colInt},
	{"numFlowsCompleted", NumFlowsCompleted, colInt},
	{"reporter", Reporter, colString},
	{"packetsIn", PacketsIn, colInt},
	{"packetsOut", PacketsOut, colInt},
	{"bytesIn", BytesIn, colInt},
	{"bytesOut", BytesOut, colInt},
	{"action", Action, colString},
}

// TextColumns is the number of columns of a text record.
const TextColumns = len(textColumns)

// TextColumnName returns the header name of a 1-based text column.
func TextColumnName(col int) string {
	if col < 1 || col > len(textColumns) {
		return ""
	}
	return textColumns[col-1].name
}

// bstr views b as a string without copying. The string is valid as long as
// b's bytes are not modified.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// isBlank reports the bytes trimmed from a record's ends: a line's
// CR LF ending as well as spaces and tabs.
func isBlank(c byte) bool {
	return c <= ' ' && (uint64(1)<<c)&(1<<' '|1<<'\t'|1<<'\r'|1<<'\n') != 0
}

// isSep reports the bytes that separate columns: spaces and tabs only. A
// CR or LF inside a record is part of a column, as any other control
// byte is (a stray CR used to split a column in two).
func isSep(c byte) bool { return c == ' ' || c == '\t' }

// DecodeText parses one space-delimited text record (the 24 columns of the
// documented format, see TextColumns) into f, replacing what f held.
//
// Columns are separated by runs of spaces or tabs; blanks and a CR LF at
// either end are ignored, and a CR or LF inside is part of a column. "-" in any column means absent. Strings in f point into b: they
// are valid until b is modified or f is decoded into again. Decoding into a
// reused Flow does not allocate unless the record is invalid. After an
// error (a *SyntaxError) f holds part of the record and is only good for
// decoding into.
func DecodeText(b []byte, f *Flow) error {
	f.resetForText()
	end := len(b)
	for end > 0 && isBlank(b[end-1]) {
		end--
	}
	b = b[:end]
	if len(b) > 0 && !isBlank(b[0]) && decodeTextFast(b, f) {
		return nil
	}
	f.resetForText() // the fast path gave up part way
	return decodeTextGeneral(b, f)
}

// decodeTextGeneral is DecodeText for any record, after the fast path (see
// decodeTextFast) gave up. b has no trailing blanks; f is reset.
func decodeTextGeneral(b []byte, f *Flow) error {
	i := 0
	for i < len(b) && isBlank(b[i]) {
		i++
	}
	for col := range textColumns {
		if i >= len(b) {
			return textError(col, len(b), "record ends early: it has "+itoa(col)+" columns, a text flow log has 24")
		}
		start := i
		// Most columns are plain integers: parse them while finding their
		// end, and fall back to the general scan for anything else.
		if c := &textColumns[col]; c.kind == colInt {
			j := i
			var n int64
			for j < len(b) && b[j]-'0' <= 9 {
				n = n*10 + int64(b[j]-'0')
				j++
			}
			if l := j - i; l > 0 && l <= 18 && (j == len(b) || b[j] == ' ') && (b[i] != '0' || l == 1) {
				f.put(c.field, Value{Str: bstr(b[i:j]), Int: n, Kind: KindNumber, IsInt: true})
				i = j
				goto next
			}
		}
		{
			// Eight bytes at a time up to the first byte <= ' ' (a candidate
			// separator), then byte by byte to the real one.
			var hi uint64
			for i+8 <= len(b) {
				v := binary.LittleEndian.Uint64(b[i:])
				hi |= v // may include the next column's bytes: only costs a check
				if m := (v - 0x2121212121212121) & ^v & 0x8080808080808080; m != 0 {
					i += bits.TrailingZeros64(m) >> 3
					goto found
				}
				i += 8
			}
		found:
			if i >= len(b) || b[i] != ' ' { // the end of the line, or not a plain space
				for i < len(b) && !isSep(b[i]) {
					hi |= uint64(b[i])
					i++
				}
			}
			tok := b[start:i]
			if hi&0x8080808080808080 != 0 && !utf8.Valid(tok) {
				return textError(col, start, "invalid UTF-8")
			}
			if len(tok) == 1 && tok[0] == '-' {
				f.clearColumn(col)
			} else {
				// Plain strings stay inline too.
				c := &textColumns[col]
				if c.kind == colString {
					f.put(c.field, Value{Str: bstr(tok), Kind: KindString})
					goto next
				}
				if err := f.setColumn(col, tok, start); err != nil {
					return err
				}
			}
		}
	next:
		if i+1 < len(b) && b[i] == ' ' && b[i+1] > ' ' {
			i++ // one space, the usual separator
		} else {
			for i < len(b) && isSep(b[i]) {
				i++
			}
		}
	}
	if i < len(b) {
		return &SyntaxError{Format: FormatText, Offset: i, Column: len(textColumns) + 1, Field: "after action",
			Msg: "more than 24 columns (a text flow log has 24)"}
	}
	return nil
}

// textMask has the bits of the fields text columns fill.
var textMask = func() (m uint64) {
	for _, c := range textColumns {
		m |= 1 << c.field
		if c.kind == colName {
			m |= 1 << (c.field - 1)
		}
	}
	return m
}()

// resetForText is Reset without clearing the fields every text column
// writes anyway (DecodeText stores each, absent ones as zero Values).
func (f *Flow) resetForText() {
	for m := f.set &^ textMask; m != 0; m &= m - 1 {
		f.vals[bits.TrailingZeros64(m)] = Value{}
	}
	f.set, f.pending = 0, 0
	f.srcIP, f.dstIP = netip.Addr{}, netip.Addr{}
	f.srcLabels = f.srcLabels[:0]
	f.dstLabels = f.dstLabels[:0]
	f.resetExtra()
	f.scratch = f.scratch[:0]
	f.order = f.order[:0]
	f.alias = 0
	f.format = FormatText
}

func (f *Flow) clearColumn(col int) {
	c := &textColumns[col]
	f.vals[c.field] = Value{}
	if c.kind == colName {
		f.vals[c.field-1] = Value{}
	}
}

func textError(col, off int, msg string) error {
	return &SyntaxError{Format: FormatText, Offset: off, Column: col + 1, Field: textColumns[col].name, Msg: msg}
}

func (f *Flow) setColumn(col int, tok []byte, off int) error {
	c := &textColumns[col]
	s := bstr(tok)
	switch c.kind {
	case colString:
		f.put(c.field, Value{Str: s, Kind: KindString})
	case colName:
		f.put(c.field, Value{Str: s, Kind: KindString})
		// The aggregated-name field comes right after the name field.
		if s[len(s)-1] != '*' {
			f.put(c.field-1, Value{Str: s, Kind: KindString})
		} else {
			f.vals[c.field-1] = Value{}
		}
	case colInt:
		n, ok := parseInt(tok)
		if !ok {
			if isDecimal(tok) {
				return textError(col, off, "integer out of range (a signed 64-bit number): "+quoteToken(tok))
			}
			return textError(col, off, "not an integer: "+quoteToken(tok))
		}
		if !canonicalInt(tok) {
			// Keep Str valid JSON number text ("007" is not).
			start := len(f.scratch)
			f.scratch = appendInt(f.scratch, n)
			s = bstr(f.scratch[start:])
		}
		f.put(c.field, Value{Str: s, Int: n, Kind: KindNumber, IsInt: true})
	case colIP:
		a, ok := parseIPv4(s)
		if !ok {
			var err error
			if a, err = netip.ParseAddr(s); err != nil {
				return textError(col, off, "not an IP address: "+quoteToken(tok))
			}
			a = a.Unmap()
		}
		f.putAddr(c.field, s, a)
	case colProto:
		n, ok := protoNumber(s)
		if !ok {
			return textError(col, off, "not a protocol number or name: "+quoteToken(tok))
		}
		if name := protoNames[n]; name != "" {
			s = name
		} else if !canonicalInt(tok) {
			start := len(f.scratch)
			f.scratch = appendInt(f.scratch, n)
			s = bstr(f.scratch[start:])
		}
		f.put(c.field, Value{Str: s, Int: n, Kind: KindString})
	case colLabels:
		if err := f.setTextLabels(c.field, tok); err != nil {
			return textError(col, off, err.Error())
		}
	}
	return nil
}

// putAddr stores an address column, SourceIP or DestIP, as written and
// parsed.
func (f *Flow) putAddr(id Field, s string, a netip.Addr) {
	f.put(id, Value{Str: s, Kind: KindString})
	if id == SourceIP {
		f.srcIP = a
	} else {
		f.dstIP = a
	}
}

// parseIPv4 is a fast path for the common dotted quad. Anything else
// (IPv6, leading zeros, out of range) is left to netip.ParseAddr, which
// decides what is valid.
func parseIPv4(s string) (netip.Addr, bool) {
	var ip [4]byte
	i := 0
	for k := range ip {
		if k > 0 {
			if i >= len(s) || s[i] != '.' {
				return netip.Addr{}, false
			}
			i++
		}
		if i >= len(s) || s[i]-'0' > 9 {
			return netip.Addr{}, false
		}
		n := uint(s[i] - '0')
		i++
		if i < len(s) && s[i]-'0' <= 9 {
			if n == 0 { // leading zero
				return netip.Addr{}, false
			}
			n = n*10 + uint(s[i]-'0')
			i++
			if i < len(s) && s[i]-'0' <= 9 {
				n = n*10 + uint(s[i]-'0')
				i++
			}
		}
		if n > 255 {
			return netip.Addr{}, false
		}
		ip[k] = byte(n)
	}
	if i != len(s) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}

// parseInt parses an optionally signed decimal integer that fits int64.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// isDecimal reports whether b is a decimal integer, of any size.
func isDecimal(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// canonicalInt reports whether b is an integer as JSON writes one: no plus
// sign, no leading zeros, no "-0".
func canonicalInt(b []byte) bool {
	if b[0] == '-' {
		b = b[1:]
		if len(b) == 1 && b[0] == '0' {
			return false
		}
	}
	return len(b) == 1 || b[0] != '0'
}

func appendInt(dst []byte, n int64) []byte {
	var buf [20]byte
	i := len(buf)
	u := uint64(n)
	if n < 0 {
		u = uint64(-n)
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if n < 0 {
		i--
		buf[i] = '-'
	}
	return append(dst, buf[i:]...)
}

func itoa(n int) string { return string(appendInt(nil, int64(n))) }
