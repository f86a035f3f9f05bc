package fluentd

import (
	"fmt"
	"strings"
)

// element is one fluentd config section: <name arg> ... </name>.
type element struct {
	name, arg string
	line      int
	params    []param
	elems     []*element
}

type param struct {
	key, value string
	line       int
}

// get returns the last value of a parameter (fluentd keeps the last when a
// parameter is repeated) and whether it was set.
func (e *element) get(key string) (param, bool) {
	var p param
	ok := false
	for _, x := range e.params {
		if x.key == key {
			p, ok = x, true
		}
	}
	return p, ok
}

// parseError is a problem with the position it is about.
type parseError struct {
	file string
	line int
	msg  string
}

func (e *parseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

// parser reads fluentd's v1 config syntax (lib/fluent/config/v1_parser.rb,
// literal_parser.rb), the part a filters file uses: sections, parameters,
// comments, and values unquoted, "double-quoted" or 'single-quoted'. What
// it does not take (JSON values, embedded Ruby "#{...}", @include,
// multi-line strings) is an error naming the line, never a guess.
type parser struct {
	file  string
	lines []string
	ln    int // index of the current line
}

func parse(data []byte, file string) (*element, error) {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	p := &parser{file: file, lines: strings.Split(text, "\n")}
	root := &element{name: "ROOT"}
	if err := p.body(root); err != nil {
		return nil, err
	}
	return root, nil
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &parseError{file: p.file, line: line, msg: fmt.Sprintf(format, args...)}
}

// body reads parameters and sections until the closing tag of e (or the
// end of input for the root).
func (p *parser) body(e *element) error {
	for ; p.ln < len(p.lines); p.ln++ {
		lineNo := p.ln + 1
		s := strings.TrimLeft(p.lines[p.ln], " \t")
		if s == "" || s[0] == '#' {
			continue
		}
		switch {
		case strings.HasPrefix(s, "</"):
			name, rest := elementName(s[2:])
			rest = strings.TrimLeft(rest, " \t")
			if !strings.HasPrefix(rest, ">") {
				return p.errorf(lineNo, "expected '>' after </%s", name)
			}
			if !lineEnd(rest[1:]) {
				return p.errorf(lineNo, "expected end of line after end tag")
			}
			if e.name == "ROOT" || name != e.name {
				return p.errorf(lineNo, "unmatched end tag </%s>", name)
			}
			return nil
		case s[0] == '<':
			name, rest := elementName(s[1:])
			if name == "" {
				return p.errorf(lineNo, "expected a section name after '<'")
			}
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				return p.errorf(lineNo, "expected '>'")
			}
			if !lineEnd(rest[end+1:]) {
				return p.errorf(lineNo, "expected end of line after tag")
			}
			arg := strings.TrimSpace(rest[:end])
			child := &element{name: name, arg: arg, line: lineNo}
			p.ln++
			if err := p.body(child); err != nil {
				return err
			}
			if p.ln >= len(p.lines) {
				return p.errorf(lineNo, "<%s> is not closed (expected </%s>)", name, name)
			}
			e.elems = append(e.elems, child)
		default:
			// The key runs to the first blank; a '#' is part of it.
			key := s
			if i := strings.IndexAny(s, " \t"); i >= 0 {
				key = s[:i]
			}
			if key == "@include" || key == "include" {
				return p.errorf(lineNo, "@include cannot be imported: import the included file itself")
			}
			rest := strings.TrimLeft(s[len(key):], " \t")
			if rest == "" {
				// A key alone on its line has the value "". (fluentd reads
				// "key #text" as the value "#text", and so does this.)
				e.params = append(e.params, param{key: key, value: "", line: lineNo})
				continue
			}
			v, err := p.value(rest, lineNo)
			if err != nil {
				return err
			}
			e.params = append(e.params, param{key: key, value: v, line: lineNo})
		}
	}
	if e.name != "ROOT" {
		return p.errorf(e.line, "<%s> is not closed (expected </%s>)", e.name, e.name)
	}
	return nil
}

func elementName(s string) (string, string) {
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
		i++
	}
	return s[:i], s[i:]
}

// lineEnd reports whether s holds nothing but blanks and a comment.
func lineEnd(s string) bool {
	s = strings.TrimLeft(s, " \t")
	return s == "" || s[0] == '#'
}

// value reads a parameter value starting at s (leading blanks removed).
func (p *parser) value(s string, line int) (string, error) {
	switch s[0] {
	case '"':
		return p.doubleQuoted(s[1:], line)
	case '\'':
		return p.singleQuoted(s[1:], line)
	case '[', '{':
		return "", p.errorf(line, "a value starting with %q is read as JSON by fluentd (and must be valid JSON there); "+
			"write a regex that starts with '%c' as /%s/ instead", s[0], s[0], strings.TrimRight(s, " \t"))
	}
	// Unquoted: up to where only blanks and a comment remain. A '#' glued
	// to the value is part of it ("a#b"); " #" starts a comment.
	end := len(s)
	for i := 0; i < len(s); i++ {
		if (s[i] == ' ' || s[i] == '\t') && lineEnd(s[i:]) {
			end = i
			break
		}
	}
	return s[:end], nil
}

func (p *parser) doubleQuoted(s string, line int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			if !lineEnd(s[i+1:]) {
				return "", p.errorf(line, "expected end of line after the quoted value")
			}
			return b.String(), nil
		case '#':
			if i+1 < len(s) && s[i+1] == '{' {
				return "", p.errorf(line, `embedded Ruby code "#{...}" cannot be imported`)
			}
			b.WriteByte(c)
		case '\\':
			if i+1 >= len(s) {
				return "", p.errorf(line, "a double-quoted value spanning lines cannot be imported")
			}
			i++
			switch e := s[i]; e {
			case '"', '\'':
				b.WriteByte(e)
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'f':
				b.WriteByte('\f')
			case 'b':
				b.WriteByte('\b')
			case '0':
				b.WriteByte(0)
			default:
				if e >= 'a' && e <= 'z' || e >= 'A' && e <= 'Z' || e >= '0' && e <= '9' {
					return "", p.errorf(line, "unexpected back-slash escape character '%c' (fluentd refuses it)", e)
				}
				b.WriteByte(e) // \\ \. \/ ...: the character itself
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", p.errorf(line, "a double-quoted value spanning lines cannot be imported")
}

func (p *parser) singleQuoted(s string, line int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			if !lineEnd(s[i+1:]) {
				return "", p.errorf(line, "expected end of line after the quoted value")
			}
			return b.String(), nil
		case s[i] == '\\' && i+1 < len(s) && (s[i+1] == '\'' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		default:
			b.WriteByte(s[i])
		}
	}
	return "", p.errorf(line, "unterminated single-quoted value")
}
