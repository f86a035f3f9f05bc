// Package fluentbit imports Fluent Bit `grep` filters into flowsieve rules.
//
// It reads the four shapes a Calico user brings: the value of a key of the
// operator's `fluent-bit-filters` ConfigMap (a YAML list of filter maps),
// the whole ConfigMap manifest, classic `[FILTER]` sections, and a Fluent Bit
// YAML config's `pipeline: filters:` list. Each shape is first turned into
// what Fluent Bit itself ends up with, a list of filter instances with their
// properties in Fluent Bit's order (for the ConfigMap, after the operator's
// defaulting and key sorting), and only then into rules. The facts encoded
// here come from fluent/fluent-bit (plugins/filter_grep/grep.c,
// src/flb_filter.c, src/flb_record_accessor.c, src/flb_regex.c,
// src/config_format/) and tigera/operator (pkg/render/logcollector/
// pipeline.go); see docs/migrating.md for the user's view.
package fluentbit

import "fmt"

// Form is the shape an input was read in.
type Form string

const (
	FormOperator  Form = "fluent-bit-filters list" // the value of a fluent-bit-filters key
	FormConfigMap Form = "fluent-bit-filters ConfigMap"
	FormClassic   Form = "classic config"
	FormYAML      Form = "YAML config"
)

// Pos is a place in the user's input.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Prop is one property of a filter instance as Fluent Bit sets it: the key
// after Fluent Bit's key translation, the value after trimming, one Prop per
// element of a list value.
type Prop struct {
	Key, Value string
	Pos        Pos
	// Origin says how the property came to be when the user did not write
	// it as such, e.g. "added by the operator"; empty otherwise.
	Origin string
}

// Filter is one filter instance, its properties in the order Fluent Bit
// applies them.
type Filter struct {
	Pos   Pos    // the section header, list item or map that defines it
	Desc  string // "filter 2 of key flow", "[FILTER] section 3", ...
	Props []Prop
}

// Name returns the plugin name property (Fluent Bit looks it up without
// regard to case) and whether there is one.
func (f *Filter) Name() (Prop, bool) {
	for _, p := range f.Props {
		if eqFold(p.Key, "name") {
			return p, true
		}
	}
	return Prop{}, false
}

// Error is a problem at a position of the input.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// eqFold is strcasecmp on ASCII, which is what Fluent Bit uses for
// property names; strings.EqualFold would also fold non-ASCII letters.
func eqFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isSpace is C's isspace in the "C" locale: Fluent Bit trims keys and
// values with it.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// trimSpace is flb_sds_trim. It reports false where Fluent Bit's trim
// fails: a non-empty string made only of spaces.
func trimSpace(s string) (string, bool) {
	if s == "" {
		return s, true
	}
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	if i == j {
		return "", false
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j], true
}
