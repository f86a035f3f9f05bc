package rules

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/flowsieve/flowsieve/internal/quote"
	"github.com/flowsieve/flowsieve/internal/ruby"
)

// strMatcher is a compiled string test. Regexes that are plain literals,
// prefixes, suffixes, anchored equalities or anchored alternations of
// literals are turned into string compares when the rule is compiled (the
// idea of Prometheus' FastRegexMatcher); the rest run on Go's RE2, or, for
// Ruby patterns RE2 cannot express, on package ruby's backtracking form.
type strMatcher struct {
	kind smKind
	lit  string
	set  []string // smSet (sorted is not needed: small sets compare linearly)
	// lineAnchored: the pattern's ^/$ are line anchors (fluentd), so the
	// literal fast path holds only for values without a newline.
	lineAnchored bool
	re           *regexp.Regexp
	// ruby is a Ruby pattern's exact matcher, for the values where the
	// RE2 form differs from Onigmo (ruby.Regexp.Differs), and for the
	// patterns only its backtracking engine runs (smRuby).
	ruby *ruby.Regexp
	// guarded: one of the checks above applies (lineAnchored fast path or
	// ruby.Differs), so the common matchers skip them with one test.
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
	smRuby // a Ruby pattern only the backtracking engine runs
)

// match tests s. A Ruby pattern that runs out of ruby.MatchBudget gives
// resError: fluentd's rules keep the record, as for any error.
func (m *strMatcher) match(s string) int8 {
	if m.guarded {
		if m.ruby != nil && m.ruby.Differs(s) {
			return m.matchRuby(s)
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
		return m.matchRuby(s)
	}
}

func (m *strMatcher) matchRuby(s string) int8 {
	ok, err := m.ruby.MatchString(s)
	if err != nil {
		return resError
	}
	return b2r(ok)
}

func b2r(b bool) int8 {
	if b {
		return resTrue
	}
	return resFalse
}

// compileRE2 compiles a native (Go RE2) pattern, unanchored. The error
// quotes at most an excerpt of the pattern.
func compileRE2(pattern string) (*strMatcher, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex %s: %w", quote.Cut(pattern), ruby.EngineError(err))
	}
	return re2Matcher(re, false), nil
}

// compileRuby compiles a Ruby (Onigmo) pattern, as fluentd's and Fluent
// Bit's grep read it: its exact RE2 form with the fast paths when it has
// one, package ruby's matcher for the rest.
func compileRuby(pattern string) (*strMatcher, error) {
	r, err := ruby.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("regex %s: %w", quote.Cut(pattern), err)
	}
	if r.Backtracks() {
		return &strMatcher{kind: smRuby, ruby: r}, nil
	}
	m := re2Matcher(r.RE2(), true)
	if r.Guarded() {
		m.ruby, m.guarded = r, true
	}
	return m, nil
}

// re2Matcher picks a fast path for re when its shape allows one.
// lineAnchored says re's ^ and $ are line anchors (a Ruby pattern's (?m)).
func re2Matcher(re *regexp.Regexp, lineAnchored bool) *strMatcher {
	m := &strMatcher{kind: smRegexp, re: re, lineAnchored: lineAnchored, guarded: lineAnchored}
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return m // regexp.Compile accepted it; no fast path then
	}
	simple := parsed.Simplify()
	fastPath(m, simple)
	if m.kind == smRegexp {
		m.pre, m.preStart = requiredPrefix(simple)
	}
	return m
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
