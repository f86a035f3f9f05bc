package codec

import (
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

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// DecodeText parses one space-delimited text record (the 24 columns of the
// documented format, see TextColumns) into f, replacing what f held.
//
// Columns are separated by runs of spaces or tabs; a trailing newline is
// ignored. "-" in any column means absent. Strings in f point into b: they
// are valid until b is modified or f is decoded into again. Decoding into a
// reused Flow does not allocate unless the record is invalid.
func DecodeText(b []byte, f *Flow) error {
	f.Reset()
	f.format = FormatText
	end := len(b)
	for end > 0 && isBlank(b[end-1]) {
		end--
	}
	i := 0
	for i < end && isBlank(b[i]) {
		i++
	}
	for col := range textColumns {
		if i >= end {
			return textError(col, end, "record ends early: it has "+itoa(col)+" columns, a text flow log has 24")
		}
		start := i
		var hi byte
		for i < end && !isBlank(b[i]) {
			hi |= b[i]
			i++
		}
		if hi >= utf8.RuneSelf && !utf8.Valid(b[start:i]) {
			return textError(col, start, "invalid UTF-8")
		}
		if err := f.setColumn(col, b[start:i], start); err != nil {
			return err
		}
		for i < end && isBlank(b[i]) {
			i++
		}
	}
	if i < end {
		return &SyntaxError{Format: FormatText, Offset: i, Column: len(textColumns) + 1, Field: "after action",
			Msg: "more than 24 columns (a text flow log has 24)"}
	}
	return nil
}

func textError(col, off int, msg string) error {
	return &SyntaxError{Format: FormatText, Offset: off, Column: col + 1, Field: textColumns[col].name, Msg: msg}
}

func (f *Flow) setColumn(col int, tok []byte, off int) error {
	if len(tok) == 1 && tok[0] == '-' {
		return nil // absent
	}
	c := &textColumns[col]
	s := bstr(tok)
	switch c.kind {
	case colString:
		f.vals[c.field] = Value{Str: s, Kind: KindString}
	case colName:
		f.vals[c.field] = Value{Str: s, Kind: KindString}
		if s[len(s)-1] != '*' {
			// The aggregated-name field comes right after the name field.
			f.vals[c.field-1] = Value{Str: s, Kind: KindString}
		}
	case colInt:
		n, ok := parseInt(tok)
		if !ok {
			return textError(col, off, "not an integer: "+quoteToken(tok))
		}
		if !canonicalInt(tok) {
			// Keep Str valid JSON number text ("007" is not).
			start := len(f.scratch)
			f.scratch = appendInt(f.scratch, n)
			s = bstr(f.scratch[start:])
		}
		f.vals[c.field] = Value{Str: s, Int: n, Kind: KindNumber, IsInt: true}
	case colIP:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return textError(col, off, "not an IP address: "+quoteToken(tok))
		}
		f.vals[c.field] = Value{Str: s, Kind: KindString}
		if c.field == SourceIP {
			f.srcIP = a.Unmap()
		} else {
			f.dstIP = a.Unmap()
		}
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
		f.vals[c.field] = Value{Str: s, Int: n, Kind: KindString}
	case colLabels:
		if err := f.setTextLabels(c.field, tok); err != nil {
			return textError(col, off, err.Error())
		}
	}
	return nil
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
