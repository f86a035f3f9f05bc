package ruby

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/flowsieve/flowsieve/internal/quote"
)

// fluentd compiles grep patterns with Ruby's Regexp (Onigmo). translateRuby
// rewrites such a pattern into Go's RE2 syntax with the same meaning, or,
// when it needs look-around, back-references or atomic groups, into
// regexp2's (.NET) syntax with the same meaning. What neither can express
// exactly is refused with the reason: a filter that silently matched
// something else would be worse than an import that stops.
//
// What changes between the dialects, and what the translation does:
//   - ^ and $ are line anchors in Ruby: the caller compiles with (?m).
//   - \d \w \s \h are ASCII in Ruby; \s includes \v, which Go's \s lacks:
//     all four (and negations) become explicit ASCII classes.
//   - Ruby's (?m) is dot-matches-newline: it becomes (?s).
//   - {,n} is {0,n} in Ruby (a literal in Go).
//   - \e, \cX, \uHHHH, \u{H H}, \xH become forms Go/.NET read the same.
//   - possessive quantifiers (a*+ a++ a?+: match and never give back)
//     become atomic groups, (?>a*), on regexp2. a{n,m}+ is not possessive
//     in Ruby's syntax (only in Onigmo's Java syntax): it repeats the
//     interval, (?:a{n,m})+, which RE2 reads.
//   - POSIX brackets ([[:alpha:]]) are Unicode-aware in Ruby under UTF-8
//     and ASCII in Go: they become the Unicode categories and properties
//     Onigmo defines them by (posixClass).
//   - refused: other nested quantifiers, \G \K \R \X \g
//     \y-style unknown escapes, class intersections (&&), nested classes,
//     negated POSIX brackets and [[:graph:]] [[:print:]], (?x),
//     (?a) (?d) (?u), conditionals, the absent operator, raw bytes \x80+.
type rubyTranslation struct {
	pattern   string
	backtrack bool // needs regexp2; pattern is in .NET syntax
	// caret: the pattern has a ^ line anchor. Ruby's ^ does not match at
	// the very end of a string that ends with a newline, Go's (?m)^ does.
	caret bool
	// boundary: the pattern has \b or \B, which are Unicode-aware in Ruby
	// and ASCII-only in Go.
	boundary bool
	// net is the exact regexp2 form, for the values where Go's differs:
	// ending with a newline (caret), or not ASCII (boundary).
	net string
}

type reTarget uint8

const (
	targetGo reTarget = iota
	targetNET
)

type needsBacktrack struct{}

func (needsBacktrack) Error() string { return "needs a backtracking engine" }

func translateRuby(pat string) (rubyTranslation, error) {
	out, caret, boundary, err := translateRubyTo(pat, targetGo)
	if err == nil {
		tr := rubyTranslation{pattern: out, caret: caret, boundary: boundary}
		if caret || boundary {
			if tr.net, _, _, err = translateRubyTo(pat, targetNET); err != nil {
				return rubyTranslation{}, err
			}
		}
		return tr, nil
	}
	if _, ok := err.(needsBacktrack); !ok {
		return rubyTranslation{}, err
	}
	out, _, _, err = translateRubyTo(pat, targetNET)
	if err != nil {
		return rubyTranslation{}, err
	}
	return rubyTranslation{pattern: out, backtrack: true}, nil
}

const (
	classDigit = `0-9`
	classWord  = `0-9A-Za-z_`
	classSpace = `\t\n\v\f\r `
	classHex   = `0-9a-fA-F`
)

type rubyTranslator struct {
	src    string
	i      int
	out    strings.Builder
	target reTarget
	// boundary: a \b or \B outside a class was written.
	boundary bool
	// optionGroup: the last item was (?imx) without a body, which Ruby
	// does not let a quantifier repeat (Go would repeat what came before).
	optionGroup bool
}

func (t *rubyTranslator) fail(format string, args ...any) error {
	return fmt.Errorf("at offset %d: "+format, append([]any{t.i}, args...)...)
}

func translateRubyTo(pat string, target reTarget) (out string, caret, boundary bool, err error) {
	t := &rubyTranslator{src: pat, target: target}
	out, err = t.run()
	return out, hasCaretAnchor(pat), t.boundary, err
}

// hasCaretAnchor reports whether pat has a ^ outside bracket expressions.
func hasCaretAnchor(pat string) bool {
	inClass := false
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; {
		case c == '\\':
			i++
		case c == '[' && !inClass:
			inClass = true
			if i+1 < len(pat) && pat[i+1] == '^' {
				i++
			}
			if i+1 < len(pat) && pat[i+1] == ']' {
				i++
			}
		case c == ']' && inClass:
			inClass = false
		case c == '^' && !inClass:
			return true
		}
	}
	return false
}

func (t *rubyTranslator) run() (string, error) {
	pat := t.src
	if !utf8.ValidString(pat) {
		return "", fmt.Errorf("pattern is not valid UTF-8")
	}
	// The previous item was a quantifier (lastQuant), or a quantifier with
	// its lazy '?' (lastLazy): what may follow differs between Ruby and Go.
	// atom is where the last atom (what a quantifier repeats: a
	// character, a class, a group) starts in out, for the rewrites of
	// possessive and repeated-interval quantifiers; groups holds where
	// each open group starts.
	lastQuant, lastLazy := false, false
	atom := 0
	var groups []int
	for t.i < len(t.src) {
		c := t.src[t.i]
		quant, lazy := false, false
		itemStart := t.out.Len()
		afterOptions := t.optionGroup
		t.optionGroup = false
		if afterOptions && (c == '*' || c == '+' || c == '?' || c == '{' && t.isInterval()) {
			return "", t.fail("target of repeat operator is not specified (a quantifier after an option group)")
		}
		switch c {
		case '^':
			if t.target == targetNET {
				// Ruby's ^: the start, or after a newline that is not the
				// string's last character.
				t.out.WriteString(`(?:\A|(?<=\n)(?!\z))`)
			} else {
				t.out.WriteByte('^')
			}
			t.i++
		case '\\':
			if err := t.escape(false); err != nil {
				return "", err
			}
		case '[':
			if err := t.class(); err != nil {
				return "", err
			}
		case '(':
			if err := t.group(); err != nil {
				return "", err
			}
			// A group left open ((?:, (?<n>, (?=, ...) closes at its
			// ')'; an option group (?i) and a comment are done.
			if w := t.out.String()[itemStart:]; w != "" && !strings.HasSuffix(w, ")") {
				groups = append(groups, itemStart)
			}
		case ')':
			if n := len(groups); n > 0 {
				itemStart = groups[n-1]
				groups = groups[:n-1]
			}
			t.copyChar()
		case '*', '+', '?':
			switch {
			case lastLazy:
				return "", t.fail("nested quantifier")
			case lastQuant && c == '?':
				lazy = true
			case lastQuant && c == '+' && t.src[t.i-1] != '}':
				// Possessive: the atom and its quantifier, atomic.
				if t.target == targetGo {
					return "", needsBacktrack{}
				}
				t.wrap(atom, "(?>", ")")
				t.i++
				lastQuant, lastLazy = false, false
				continue
			case lastQuant && c == '+':
				// a{n,m}+ repeats the interval (Ruby syntax).
				t.wrap(atom, "(?:", ")+")
				t.i++
				lastQuant, lastLazy = true, false
				continue
			case lastQuant:
				return "", t.fail("nested quantifier")
			}
			t.out.WriteByte(c)
			t.i++
			quant = true
		case '{':
			if n, ok := t.interval(); ok {
				if lastQuant {
					return "", t.fail("nested quantifier ({n,m} after a quantifier)")
				}
				t.out.WriteString(n)
				quant = true
			} else {
				t.out.WriteString(`\{`)
				t.i++
			}
		default:
			t.copyChar()
		}
		if !quant {
			atom = itemStart
		}
		lastQuant, lastLazy = quant, lazy
	}
	return t.out.String(), nil
}

// wrap puts what out holds from offset from on between open and close.
func (t *rubyTranslator) wrap(from int, open, close string) {
	s := t.out.String()
	t.out.Reset()
	t.out.WriteString(s[:from])
	t.out.WriteString(open)
	t.out.WriteString(s[from:])
	t.out.WriteString(close)
}

// copyChar copies the character at t.i, which means itself in both
// dialects.
func (t *rubyTranslator) copyChar() {
	_, n := utf8.DecodeRuneInString(t.src[t.i:])
	t.out.WriteString(t.src[t.i : t.i+n])
	t.i += n
}

func (t *rubyTranslator) isInterval() bool {
	save := t.i
	_, ok := t.interval()
	t.i = save
	return ok
}

// interval reads {n}, {n,}, {n,m} or {,m} at t.i; Ruby reads anything else
// as a literal brace.
func (t *rubyTranslator) interval() (string, bool) {
	j := t.i + 1
	lo := j
	for j < len(t.src) && t.src[j] >= '0' && t.src[j] <= '9' {
		j++
	}
	a := t.src[lo:j]
	b, comma := "", false
	if j < len(t.src) && t.src[j] == ',' {
		comma = true
		j++
		hi := j
		for j < len(t.src) && t.src[j] >= '0' && t.src[j] <= '9' {
			j++
		}
		b = t.src[hi:j]
	}
	if j >= len(t.src) || t.src[j] != '}' || (a == "" && b == "") {
		return "", false
	}
	t.i = j + 1
	if a == "" {
		a = "0"
	}
	if !comma {
		return "{" + a + "}", true
	}
	return "{" + a + "," + b + "}", true
}

// group handles '(' and its Ruby extensions.
func (t *rubyTranslator) group() error {
	s := t.src[t.i:]
	switch {
	case strings.HasPrefix(s, "(?#"):
		end := strings.IndexByte(s, ')')
		if end < 0 {
			return t.fail("unterminated comment group")
		}
		t.i += end + 1
		return nil
	case strings.HasPrefix(s, "(?:"), !strings.HasPrefix(s, "(?"):
		t.out.WriteByte('(')
		if strings.HasPrefix(s, "(?:") {
			t.out.WriteString("?:")
			t.i += 2
		}
		t.i++
		return nil
	case strings.HasPrefix(s, "(?=") || strings.HasPrefix(s, "(?!") ||
		strings.HasPrefix(s, "(?<=") || strings.HasPrefix(s, "(?<!") || strings.HasPrefix(s, "(?>"):
		if t.target == targetGo {
			return needsBacktrack{}
		}
		n := 3
		if strings.HasPrefix(s, "(?<=") || strings.HasPrefix(s, "(?<!") {
			n = 4
		}
		t.out.WriteString(s[:n])
		t.i += n
		return nil
	case strings.HasPrefix(s, "(?<"), strings.HasPrefix(s, "(?'"):
		closer := byte('>')
		if s[2] == '\'' {
			closer = '\''
		}
		end := strings.IndexByte(s[3:], closer)
		if end < 0 {
			return t.fail("unterminated group name")
		}
		name := s[3 : 3+end]
		for _, r := range name {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return t.fail("group name %s: use letters, digits and _", quote.Cut(name))
			}
		}
		t.out.WriteString("(?<" + name + ">")
		t.i += 3 + end + 1
		return nil
	case strings.HasPrefix(s, "(?("):
		return t.fail("conditional groups are not supported")
	case strings.HasPrefix(s, "(?~"):
		return t.fail("the absent operator (?~...) is not supported")
	}
	// (?imx-imx) or (?imx-imx:...)
	j := 2
	var on, off strings.Builder
	neg := false
	for ; j < len(s); j++ {
		c := s[j]
		switch c {
		case 'i', 'm':
			g := c
			if c == 'm' {
				g = 's'
			}
			if neg {
				off.WriteByte(g)
			} else {
				on.WriteByte(g)
			}
			continue
		case '-':
			if neg {
				return t.fail("bad option group")
			}
			neg = true
			continue
		case 'x':
			return t.fail("extended mode (?x) is not supported; remove the whitespace and comments")
		case ')', ':':
		default:
			return t.fail("unsupported group (?%c", c)
		}
		break
	}
	if j >= len(s) {
		return t.fail("unterminated group")
	}
	flags := on.String()
	if off.Len() > 0 {
		flags += "-" + off.String()
	}
	t.optionGroup = s[j] == ')'
	if flags == "" || flags == "-" {
		// (?) or (?-) : nothing to set.
		if s[j] == ':' {
			t.out.WriteString("(?:")
		}
		t.i += j + 1
		return nil
	}
	t.out.WriteString("(?" + flags + string(s[j]))
	t.i += j + 1
	return nil
}

// class copies a bracket expression.
func (t *rubyTranslator) class() error {
	start := t.i
	t.out.WriteByte('[')
	t.i++
	if t.i < len(t.src) && t.src[t.i] == '^' {
		t.out.WriteByte('^')
		t.i++
	}
	first := true
	for t.i < len(t.src) {
		c := t.src[t.i]
		switch {
		case c == ']' && !first:
			t.out.WriteByte(']')
			t.i++
			return nil
		case c == ']' && first:
			t.out.WriteString(`\]`)
			t.i++
		case c == '[':
			if strings.HasPrefix(t.src[t.i:], "[:") {
				if err := t.posixBracket(); err != nil {
					return err
				}
				first = false
				continue
			}
			return t.fail("nested character classes are not supported")
		case c == '&' && strings.HasPrefix(t.src[t.i:], "&&"):
			return t.fail("character class intersection (&&) is not supported")
		case c == '\\':
			if err := t.escape(true); err != nil {
				return err
			}
		default:
			t.copyChar()
		}
		first = false
	}
	t.i = start
	return t.fail("unterminated character class")
}

// posixBracket translates [:name:] at t.i, inside a class, into the
// characters Onigmo gives it under UTF-8 (Unicode-aware, unlike Go's
// ASCII [[:alpha:]]), from doc/RE and enc/unicode.c:
//
//	alpha  Alphabetic: L, Nl, Other_Alphabetic   digit  Nd
//	alnum  alpha and Nd                          xdigit 0-9 A-F a-f
//	upper  Uppercase: Lu, Other_Uppercase        lower  Lowercase: Ll, Other_Lowercase
//	space  White_Space                           blank  Zs and tab
//	cntrl  Cc                                    punct  P and $+<=>^`|~
//	word   alpha, M, Nd, Pc                      ascii  U+0000-U+007F
//
// Categories go as \p{..}, which both engines read; the properties Go's
// regexp has no name for are written out as ranges from Go's Unicode
// tables. A negated bracket ([:^alpha:]) and graph and print (defined by
// set differences) are refused.
func (t *rubyTranslator) posixBracket() error {
	end := strings.Index(t.src[t.i:], ":]")
	if end < 0 {
		return t.fail("unterminated POSIX bracket")
	}
	name := t.src[t.i+2 : t.i+end]
	if strings.HasPrefix(name, "^") {
		return t.fail("negated POSIX bracket [:%s:] is not supported; negate the class instead ([^[:%s:]])", name, name[1:])
	}
	var cats []string
	var props []*unicode.RangeTable
	var ascii string
	switch name {
	case "alpha":
		cats, props = []string{"L", "Nl"}, []*unicode.RangeTable{unicode.Other_Alphabetic}
	case "alnum":
		cats, props = []string{"L", "Nl", "Nd"}, []*unicode.RangeTable{unicode.Other_Alphabetic}
	case "digit":
		cats = []string{"Nd"}
	case "xdigit":
		ascii = classHex
	case "upper":
		cats, props = []string{"Lu"}, []*unicode.RangeTable{unicode.Other_Uppercase}
	case "lower":
		cats, props = []string{"Ll"}, []*unicode.RangeTable{unicode.Other_Lowercase}
	case "space":
		props = []*unicode.RangeTable{unicode.White_Space}
	case "blank":
		cats, ascii = []string{"Zs"}, `\t`
	case "cntrl":
		cats = []string{"Cc"}
	case "punct":
		cats, ascii = []string{"P"}, `$+<=>^\x60|~`
	case "word":
		cats, props = []string{"L", "Nl", "M", "Nd", "Pc"}, []*unicode.RangeTable{unicode.Other_Alphabetic}
	case "ascii":
		ascii = `\x00-\x7F`
		if t.target == targetNET {
			ascii = `\u0000-\u007F`
		}
	case "graph", "print":
		return t.fail("POSIX bracket [:%s:] is not supported (Onigmo defines it by set differences); write the class out", name)
	default:
		return t.fail("unknown POSIX bracket [:%s:]", name)
	}
	for _, c := range cats {
		t.out.WriteString(`\p{` + c + `}`)
	}
	if ascii != "" {
		if t.target == targetNET {
			ascii = strings.ReplaceAll(ascii, `\x60`, "`")
		}
		t.out.WriteString(ascii)
	}
	for _, tab := range props {
		t.writeRanges(tab)
	}
	t.i += end + 2
	return nil
}

// writeRanges writes a Unicode table's code points as class ranges: ASCII
// ones escaped, the others as themselves (both engines read a character
// beyond the BMP in a class; .NET's \u escape cannot name one).
func (t *rubyTranslator) writeRanges(tab *unicode.RangeTable) {
	one := func(r rune) {
		if r < utf8.RuneSelf {
			t.writeRune(r)
		} else {
			t.out.WriteRune(r)
		}
	}
	span := func(lo, hi, stride rune) {
		if stride == 1 {
			one(lo)
			if hi > lo {
				t.out.WriteByte('-')
				one(hi)
			}
			return
		}
		for r := lo; r <= hi; r += stride {
			one(r)
		}
	}
	for _, r := range tab.R16 {
		span(rune(r.Lo), rune(r.Hi), rune(r.Stride))
	}
	for _, r := range tab.R32 {
		span(rune(r.Lo), rune(r.Hi), rune(r.Stride))
	}
}

// escape translates the escape at t.i, by family.
func (t *rubyTranslator) escape(inClass bool) error {
	if t.i+1 >= len(t.src) {
		return t.fail("trailing backslash")
	}
	c := t.src[t.i+1]
	t.i += 2
	switch c {
	case 'd', 'w', 's', 'h', 'D', 'W', 'S', 'H':
		return t.classEscape(c, inClass)
	case 'A', 'z', 'Z', 'B':
		return t.anchorEscape(c, inClass)
	case 'b':
		if inClass {
			t.writeRune(8) // backspace
			return nil
		}
		return t.anchorEscape(c, inClass)
	case 'n', 't', 'r', 'f', 'v', 'a':
		t.out.WriteString(`\` + string(c))
	case 'e':
		t.out.WriteString(`\x1B`)
	case '0':
		t.octalEscape()
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return t.backref(c, inClass)
	case 'k':
		return t.namedBackref(inClass)
	case 'x':
		return t.hexEscape()
	case 'u':
		return t.unicodeEscape(inClass)
	case 'c':
		if t.i >= len(t.src) || t.src[t.i] >= utf8.RuneSelf {
			return t.fail(`bad \c escape`)
		}
		t.writeRune(rune(t.src[t.i] & 0x1f))
		t.i++
	case 'p', 'P':
		return t.property(c)
	case 'G', 'K', 'R', 'X', 'g', 'O', 'y', 'Y', 'N', 'C', 'M', 'Q', 'E', 'U', 'l', 'L':
		return t.fail(`\%c is not supported`, c)
	default:
		return t.literalEscape(c)
	}
	return nil
}

// classEscape translates \d \w \s \h (ASCII in Ruby) and their negations
// into explicit ASCII classes.
func (t *rubyTranslator) classEscape(c byte, inClass bool) error {
	neg := c == 'D' || c == 'W' || c == 'S' || c == 'H'
	if neg && inClass {
		if c == 'D' || c == 'W' {
			t.out.WriteString(`\` + string(c)) // ASCII negations in Go and Ruby alike
			return nil
		}
		return t.fail(`\%c inside a character class is not supported`, c)
	}
	body := map[byte]string{'d': classDigit, 'w': classWord, 's': classSpace, 'h': classHex,
		'D': classDigit, 'W': classWord, 'S': classSpace, 'H': classHex}[c]
	switch {
	case inClass:
		t.out.WriteString(body)
	case neg:
		t.out.WriteString("[^" + body + "]")
	default:
		t.out.WriteString("[" + body + "]")
	}
	return nil
}

// anchorEscape translates \A \z \Z \b \B outside a class.
func (t *rubyTranslator) anchorEscape(c byte, inClass bool) error {
	if inClass {
		return t.fail(`\%c inside a character class`, c)
	}
	switch c {
	case 'b', 'B':
		t.boundary = true
	case 'Z':
		if t.target == targetGo {
			return needsBacktrack{}
		}
	}
	t.out.WriteString(`\` + string(c))
	return nil
}

// octalEscape reads \0, \0o, \0oo.
func (t *rubyTranslator) octalEscape() {
	j := t.i
	for j < len(t.src) && j < t.i+2 && t.src[j] >= '0' && t.src[j] <= '7' {
		j++
	}
	v, _ := strconv.ParseUint("0"+t.src[t.i:j], 8, 8)
	t.i = j
	t.writeRune(rune(v))
}

// backref translates \1..\9; longer numbers are ambiguous in Onigmo
// (back-reference or octal) and refused.
func (t *rubyTranslator) backref(c byte, inClass bool) error {
	if inClass {
		return t.fail(`octal escape in a character class is not supported`)
	}
	if t.i < len(t.src) && t.src[t.i] >= '0' && t.src[t.i] <= '9' {
		return t.fail(`multi-digit escape \%c%c (back-reference or octal) is ambiguous; not supported`, c, t.src[t.i])
	}
	if t.target == targetGo {
		return needsBacktrack{}
	}
	t.out.WriteString(`\` + string(c))
	return nil
}

// namedBackref translates \k<name> and \k'name'.
func (t *rubyTranslator) namedBackref(inClass bool) error {
	if inClass || t.i >= len(t.src) || (t.src[t.i] != '<' && t.src[t.i] != '\'') {
		return t.fail(`bad \k escape`)
	}
	closer := byte('>')
	if t.src[t.i] == '\'' {
		closer = '\''
	}
	end := strings.IndexByte(t.src[t.i+1:], closer)
	if end < 0 {
		return t.fail(`unterminated \k reference`)
	}
	if t.target == targetGo {
		return needsBacktrack{}
	}
	name := t.src[t.i+1 : t.i+1+end]
	if _, err := strconv.Atoi(name); err != nil && strings.ContainsAny(name, "+-") {
		return t.fail(`relative back-reference \k<%s> is not supported`, name)
	}
	t.out.WriteString(`\k<` + name + `>`)
	t.i += end + 2
	return nil
}

// hexEscape reads \xH or \xHH (ASCII only: a raw byte is not a character
// of a UTF-8 pattern).
func (t *rubyTranslator) hexEscape() error {
	j := t.i
	for j < len(t.src) && j < t.i+2 && isHex(t.src[j]) {
		j++
	}
	if j == t.i {
		return t.fail(`\x needs hex digits`)
	}
	v, _ := strconv.ParseUint(t.src[t.i:j], 16, 8)
	if v >= 0x80 {
		return t.fail(`\x%s is a raw byte, which Ruby refuses in a UTF-8 pattern`, t.src[t.i:j])
	}
	t.i = j
	t.writeRune(rune(v))
	return nil
}

// unicodeEscape reads \uHHHH and \u{H H ...}.
func (t *rubyTranslator) unicodeEscape(inClass bool) error {
	if t.i < len(t.src) && t.src[t.i] == '{' {
		end := strings.IndexByte(t.src[t.i:], '}')
		if end < 0 {
			return t.fail(`unterminated \u{...}`)
		}
		fields := strings.Fields(t.src[t.i+1 : t.i+end])
		if len(fields) == 0 {
			return t.fail(`empty \u{}`)
		}
		if inClass && len(fields) > 1 {
			return t.fail(`several code points in one \u{...} inside a class`)
		}
		for _, h := range fields {
			v, err := strconv.ParseUint(h, 16, 32)
			if err != nil || v > utf8.MaxRune {
				return t.fail(`bad code point %s`, quote.Cut(h))
			}
			if err := t.writeRuneChecked(rune(v)); err != nil {
				return err
			}
		}
		t.i += end + 1
		return nil
	}
	if t.i+4 > len(t.src) {
		return t.fail(`\u needs four hex digits`)
	}
	v, err := strconv.ParseUint(t.src[t.i:t.i+4], 16, 32)
	if err != nil {
		return t.fail(`\u needs four hex digits`)
	}
	t.i += 4
	return t.writeRuneChecked(rune(v))
}

// property translates \p{Name}, \p{^Name} and \P{Name} for the general
// categories the three engines read alike.
func (t *rubyTranslator) property(c byte) error {
	if t.i >= len(t.src) || t.src[t.i] != '{' {
		return t.fail(`\%c needs {Name}`, c)
	}
	end := strings.IndexByte(t.src[t.i:], '}')
	if end < 0 {
		return t.fail(`unterminated \%c{`, c)
	}
	name := t.src[t.i+1 : t.i+end]
	neg := c == 'P'
	if strings.HasPrefix(name, "^") {
		neg, name = !neg, name[1:]
	}
	if !goUnicodeClass(name) {
		return t.fail(`Unicode property %s has no equivalent here`, quote.Cut(name))
	}
	if neg {
		t.out.WriteString(`\P{` + name + `}`)
	} else {
		t.out.WriteString(`\p{` + name + `}`)
	}
	t.i += end + 1
	return nil
}

// literalEscape copies an escaped non-ASCII character or punctuation; an
// escaped letter Onigmo gives no meaning is refused.
func (t *rubyTranslator) literalEscape(c byte) error {
	if c >= utf8.RuneSelf {
		_, n := utf8.DecodeRuneInString(t.src[t.i-1:])
		t.out.WriteString(t.src[t.i-1 : t.i-1+n])
		t.i += n - 1
		return nil
	}
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return t.fail(`unknown escape \%c`, c)
	}
	t.out.WriteString(`\` + string(c)) // escaped punctuation
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// writeRune writes r as an escape both engines read as that code point.
func (t *rubyTranslator) writeRune(r rune) {
	_ = t.writeRuneChecked(r)
}

func (t *rubyTranslator) writeRuneChecked(r rune) error {
	if t.target == targetNET {
		if r > 0xFFFF {
			return t.fail(`code point U+%X beyond the BMP in a pattern that needs regexp2`, r)
		}
		fmt.Fprintf(&t.out, `\u%04X`, r)
		return nil
	}
	fmt.Fprintf(&t.out, `\x{%X}`, r)
	return nil
}

// goUnicodeClass reports whether name is a Unicode category or script that
// Go's regexp and .NET read the same way as Onigmo: the one- and
// two-letter general categories. Scripts and Onigmo's extra properties
// (Alpha, Word, ...) are left out rather than guessed.
func goUnicodeClass(name string) bool {
	switch name {
	case "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No",
		"P", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So",
		"Z", "Zs", "Zl", "Zp", "C", "Cc", "Cf", "Co", "Cs":
		return true
	}
	return false
}
