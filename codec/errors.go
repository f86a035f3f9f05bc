package codec

import (
	"fmt"
	"strconv"
)

// SyntaxError says why a record is not a flow log and where: the byte offset
// in the record and, for text, the 1-based column and its header name. It is
// the reason the pipeline writes into the invalid topic's header, so it
// names what was expected, not just what was found.
type SyntaxError struct {
	Format Format // the form the record was read as
	Offset int    // byte offset in the record where the problem is
	Column int    // text: 1-based column; 0 for JSON
	Field  string // text: the column's header name (srcIP); JSON: the member key, when known
	Msg    string
}

func (e *SyntaxError) Error() string {
	switch e.Format {
	case FormatText:
		return fmt.Sprintf("text record: column %d (%s) at byte %d: %s", e.Column, e.Field, e.Offset, e.Msg)
	case FormatJSON:
		if e.Field != "" {
			return fmt.Sprintf("json record: byte %d (member %s): %s", e.Offset, strconv.Quote(e.Field), e.Msg)
		}
		return fmt.Sprintf("json record: byte %d: %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("record: byte %d: %s", e.Offset, e.Msg)
}

// quoteToken renders a piece of the input for an error message, cut short so
// a garbage megabyte does not become a megabyte of header.
func quoteToken(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
