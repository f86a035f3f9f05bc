package rules

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// strMatcher is a compiled string test. Regexes that are plain literals,
// prefixes, suffixes, anchored equalities or anchored alternations of
// literals are turned into string compares when the rule is compiled (the
// idea of Prometheus' FastRegexMatcher); the rest run on Go's RE2, or, for
// fluentd patterns RE2 cannot express, on regexp2 with a time limit.
type strMatcher struct {
	kind smKind
	lit  string
	set  []string // smSet (sorted is not needed: small sets compare linearly)
	// lineAnchored: the pattern's ^/$ are line anchors (fluentd), so the
	// literal fast path holds only for values without a newline.
	lineAnchored bool
	re           *regexp.Regexp
	re2          *regexp2.Regexp
	// alt is the exact (regexp2) form of a fluentd pattern, for the values
	// where RE2 would differ from Ruby: ^ on a value ending with a newline
	// (altNL), \b or \B on a value that is not ASCII (altNonASCII).
	alt         *regexp2.Regexp
	altNL       bool
	altNonASCII bool
	// guarded: one of the checks above applies (lineAnchored fast path or
	// alt), so the common matchers skip them with one test.
	guarded bool
	// pre is a literal every match starts with; preStart says the match
	// must also start the string. The regex only runs on strings that
	// pass this cheap test.
	pre      string
	preStart bool
}

type smKind uint8

const (
	smEqual smKind = iota
	smPrefix
	smSuffix
	smContains
	smSet         // equal to one of set
	smContainsAny // contains one of set
	smAlways
	smRegexp
	smRegexp2
)

// regexp2Timeout bounds one backtracking match. A pattern that hits it is
// treated like a fluentd error: the rule does not match that record.
const regexp2Timeout = 100 * time.Millisecond

func (m *strMatcher) match(s string) int8 {
	if m.guarded {
		if m.alt != nil && (m.altNL && len(s) > 0 && s[len(s)-1] == '\n' || m.altNonASCII && !isASCII(s)) {
			ok, err := m.alt.MatchString(s)
			if err != nil {
				return resError
			}
			return b2r(ok)
		}
		if m.lineAnchored && m.kind < smRegexp && strings.IndexByte(s, '\n') >= 0 {
			return b2r(m.re.MatchString(s))
		}
	}
	switch m.kind {
	case smEqual:
		return b2r(s == m.lit)
	case smPrefix:
		return b2r(strings.HasPrefix(s, m.lit))
	case smSuffix:
		return b2r(strings.HasSuffix(s, m.lit))
	case smContains:
		return b2r(strings.Contains(s, m.lit))
	case smSet:
		for _, x := range m.set {
			if s == x {
				return resTrue
			}
		}
		return resFalse
	case smContainsAny:
		for _, x := range m.set {
			if strings.Contains(s, x) {
				return resTrue
			}
		}
		return resFalse
	case smAlways:
		return resTrue
	case smRegexp:
		if m.preStart {
			if !strings.HasPrefix(s, m.pre) {
				return resFalse
			}
		} else if m.pre != "" && !strings.Contains(s, m.pre) {
			return resFalse
		}
		return b2r(m.re.MatchString(s))
	default:
		ok, err := m.re2.MatchString(s)
		if err != nil {
			return resError
		}
		return b2r(ok)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func b2r(b bool) int8 {
	if b {
		return resTrue
	}
	return resFalse
}

// compileRE2 compiles a Go (RE2) pattern, unanchored, and picks a fast path
// when the pattern allows one. lineAnchored says the pattern starts with
// (?m), as translated fluentd patterns do.
func compileRE2(pattern string, lineAnchored bool) (*strMatcher, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	m := &strMatcher{kind: smRegexp, re: re, lineAnchored: lineAnchored, guarded: lineAnchored}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return m, nil //nolint:nilerr // regexp.Compile accepted it; no fast path then
	}
	simple := parsed.Simplify()
	fastPath(m, simple)
	if m.kind == smRegexp {
		m.pre, m.preStart = requiredPrefix(simple)
	}
	return m, nil
}

// fastPath recognises the shapes that need no regex engine.
func fastPath(m *strMatcher, re *syntax.Regexp) {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	var begin, end bool
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	if len(subs) > 0 && isBegin(subs[0].Op) {
		begin, subs = true, subs[1:]
	}
	if len(subs) > 0 && isEnd(subs[len(subs)-1].Op) {
		end, subs = true, subs[:len(subs)-1]
	}
	switch len(subs) {
	case 0:
		if !begin && !end {
			m.kind = smAlways
		} else if begin && end {
			m.kind, m.lit = smEqual, ""
		} else {
			m.kind = smAlways // "^" or "$" alone matches every string
		}
		return
	case 1:
	default:
		return
	}
	body := subs[0]
	for body.Op == syntax.OpCapture {
		body = body.Sub[0]
	}
	if lit, ok := literal(body); ok {
		switch {
		case begin && end:
			m.kind = smEqual
		case begin:
			m.kind = smPrefix
		case end:
			m.kind = smSuffix
		default:
			m.kind = smContains
		}
		m.lit = lit
		return
	}
	if body.Op == syntax.OpAlternate && begin == end {
		set := make([]string, 0, len(body.Sub))
		for _, s := range body.Sub {
			lit, ok := literal(s)
			if !ok {
				return
			}
			set = append(set, lit)
		}
		m.set = set
		if begin {
			m.kind = smSet
		} else {
			m.kind = smContainsAny
		}
	}
}

// requiredPrefix returns a literal that every match starts with, and
// whether the match must start at the beginning of the text.
func requiredPrefix(re *syntax.Regexp) (string, bool) {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpConcat || len(re.Sub) == 0 {
		if lit, ok := literal(re); ok {
			return lit, false
		}
		return "", false
	}
	subs := re.Sub
	start := false
	if subs[0].Op == syntax.OpBeginText {
		start, subs = true, subs[1:]
	} else if subs[0].Op == syntax.OpBeginLine {
		subs = subs[1:] // line start: the literal is somewhere in the text
	}
	if len(subs) == 0 {
		return "", false
	}
	first := subs[0]
	for first.Op == syntax.OpCapture {
		first = first.Sub[0]
	}
	if lit, ok := literal(first); ok && lit != "" {
		return lit, start
	}
	return "", false
}

func literal(re *syntax.Regexp) (string, bool) {
	if re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0 {
		return string(re.Rune), true
	}
	if re.Op == syntax.OpEmptyMatch {
		return "", true
	}
	return "", false
}

func isBegin(op syntax.Op) bool { return op == syntax.OpBeginText || op == syntax.OpBeginLine }
func isEnd(op syntax.Op) bool   { return op == syntax.OpEndText || op == syntax.OpEndLine }

// literalMatcher builds the compare for equals/prefix/suffix/contains/in.
func literalMatcher(kind smKind, lits ...string) *strMatcher {
	m := &strMatcher{kind: kind}
	if kind == smSet || kind == smContainsAny {
		m.set = lits
	} else {
		m.lit = lits[0]
	}
	return m
}
