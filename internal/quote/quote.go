// Package quote quotes a value for an error message without echoing all of
// it: a 50 KB regex becomes a short, clearly cut prefix and its length.
package quote

import (
	"strconv"
	"unicode/utf8"
)

// Max is how many bytes of a value Cut quotes.
const Max = 40

// Cut returns s Go-quoted when it is at most Max bytes, else its first Max
// bytes (cut back to a whole UTF-8 character) quoted, followed by
// "… (N bytes)" with s's full length.
func Cut(s string) string {
	if len(s) <= Max {
		return strconv.Quote(s)
	}
	n := Max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// Excerpt shows a value in an error without giving it away: at most half
// of it and at most 8 bytes, cut at a character and marked as cut, with
// its length. A rule or feed file can be a file never meant to be one (a
// password file named by mistake): no error echoes a whole value of it.
func Excerpt(s string) string {
	n := min(len(s)/2, 8)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}
