package codec

// Decode parses one record, text or JSON, into f, within DefaultLimits
// (see Limits.Decode to choose others). The form is detected per record: a
// record whose first non-blank byte is '{' is JSON, anything else is text.
// See DecodeText and DecodeJSON for what each accepts and for how long the
// strings in f stay valid.
func Decode(b []byte, f *Flow) error {
	return DefaultLimits.Decode(b, f)
}
