package rules

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a rule file, with its position.
type Error struct {
	File      string
	Line, Col int    // 0 when unknown
	Rule      string // the rule's name, "" outside a rule
	Msg       string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule %q: ", e.Rule)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// joinErrs is errors.Join that flattens nested joins, so a caller can list
// every problem with Errors.
func joinErrs(errs []error) error {
	var flat []error
	for _, e := range errs {
		flat = append(flat, Errors(e)...)
	}
	return errors.Join(flat...)
}

// Errors splits an error returned by Load or LoadFile into its individual
// problems (it returns them all, not just the first).
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}
