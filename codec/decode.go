package codec

// Decode parses one record, text or JSON, into f. The form is detected per
// record: a record whose first non-blank byte is '{' is JSON, anything else
// is text. See DecodeText and DecodeJSON for what each accepts and for how
// long the strings in f stay valid.
func Decode(b []byte, f *Flow) error {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return DecodeJSON(b, f)
		}
		return DecodeText(b, f)
	}
	f.Reset()
	return &SyntaxError{Format: FormatText, Offset: len(b), Column: 1, Field: textColumns[0].name, Msg: "empty record"}
}
