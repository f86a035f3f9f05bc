package codec

import "fmt"

// Limits bound what one record may cost, so a record written by anyone who
// can write to the input cannot stall a partition: decoding is linear in a
// record's bytes, and these caps bound the bytes and the shapes that cost
// the most per byte. A record over a limit is not decoded; the error is a
// *LimitError. Zero fields take DefaultLimits' values.
type Limits struct {
	// RecordBytes is the longest record, text or JSON. The default, 1 MiB,
	// is Kafka's default largest message (message.max.bytes 1048588 less
	// framing); felix's records are about 1.4 KB.
	RecordBytes int
	// Members is the most members a JSON record's object may have (its own
	// members, not those of nested objects). felix writes about 50.
	Members int
	// Depth is the deepest nesting of a JSON record, counting the record's
	// own object as 1. felix's deepest is 3 (source_labels.labels[]).
	Depth int
}

// DefaultLimits are the limits of Decode, and what a zero Limits field
// means.
var DefaultLimits = Limits{RecordBytes: 1 << 20, Members: 1000, Depth: 16}

// Limit names, as in LimitError.Limit.
const (
	LimitRecordBytes = "record_bytes"
	LimitMembers     = "members"
	LimitDepth       = "depth"
)

// LimitError says which limit a record broke. The record was not decoded.
type LimitError struct {
	Limit  string // LimitRecordBytes, LimitMembers or LimitDepth
	Max    int    // the limit
	Offset int    // byte offset where the record crossed it (its length for record_bytes)
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitRecordBytes:
		return fmt.Sprintf("record too long: %d bytes, over the limit of %d", e.Offset, e.Max)
	case LimitMembers:
		return fmt.Sprintf("json record: byte %d: more than %d members, the limit", e.Offset, e.Max)
	case LimitDepth:
		return fmt.Sprintf("json record: byte %d: nested deeper than %d levels, the limit", e.Offset, e.Max)
	}
	return fmt.Sprintf("record: byte %d: over the %s limit of %d", e.Offset, e.Limit, e.Max)
}

func (l Limits) withDefaults() Limits {
	if l.RecordBytes <= 0 {
		l.RecordBytes = DefaultLimits.RecordBytes
	}
	if l.Members <= 0 {
		l.Members = DefaultLimits.Members
	}
	if l.Depth <= 0 {
		l.Depth = DefaultLimits.Depth
	}
	return l
}

// Decode is the package's Decode within l: a record over RecordBytes is
// refused before a byte of it is read, and a JSON record stops decoding at
// the member or the nesting level that breaks Members or Depth.
func (l Limits) Decode(b []byte, f *Flow) error {
	l = l.withDefaults()
	if len(b) > l.RecordBytes {
		f.Reset()
		return &LimitError{Limit: LimitRecordBytes, Max: l.RecordBytes, Offset: len(b)}
	}
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return decodeJSON(b, f, l.Members, min(l.Depth, maxDepth+1), true)
		}
		return DecodeText(b, f)
	}
	f.Reset()
	return &SyntaxError{Format: FormatText, Offset: len(b), Column: 1, Field: textColumns[0].name, Msg: "empty record"}
}
