package ruby

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dlclark/regexp2"
)

// MatchBudget bounds one match on the backtracking engine. A match that
// runs out of it fails with ErrTimeout (fluentd's rules count it as an
// error: the record is kept) and is counted by Timeouts.
const MatchBudget = 100 * time.Millisecond

// regexp2 checks its deadline against a clock a goroutine ticks every
// clockPeriod, and pads each deadline by one period: a match may run for
// its MatchTimeout plus up to two periods. The default period, 100 ms,
// let a 100 ms budget stretch to 300 ms (~200 ms typical). A 10 ms tick
// and a MatchTimeout two ticks short of the budget keep every match
// within MatchBudget; the ticking goroutine stops a second after the last
// match with a deadline.
const (
	clockPeriod  = 10 * time.Millisecond
	matchTimeout = MatchBudget - 2*clockPeriod
)

func init() {
	// Set before any match can start the clock goroutine, which reads it.
	regexp2.SetTimeoutCheckPeriod(clockPeriod)
}

// ErrTimeout is the error of a match that ran out of MatchBudget.
var ErrTimeout = errors.New("regex match ran out of its time budget (" + MatchBudget.String() + ")")

var timeouts atomic.Uint64

// Timeouts returns how many matches in this process ran out of
// MatchBudget.
func Timeouts() uint64 { return timeouts.Load() }

// Regexp is a compiled Ruby (Onigmo) pattern, unanchored, with ^ and $ as
// line anchors. It is safe for concurrent use.
type Regexp struct {
	// re is the exact RE2 form, nil when only the backtracking engine can
	// run the pattern.
	re *regexp.Regexp
	// bt is the backtracking form: the whole pattern when re is nil, else
	// the exact form for the values where RE2 reads the pattern otherwise
	// (see Differs).
	bt *regexp2.Regexp
	// btNL: Ruby's ^ does not match after a newline that ends the string,
	// RE2's (?m)^ does. btNonASCII: \b and \B are Unicode-aware in Ruby,
	// ASCII in RE2.
	btNL, btNonASCII bool
}

// Compile compiles a Ruby pattern, or says why it cannot be run with its
// Ruby meaning. The error quotes at most a short excerpt of the pattern.
func Compile(pat string) (*Regexp, error) {
	tr, err := translateRuby(pat)
	if err != nil {
		return nil, err
	}
	if tr.backtrack {
		bt, err := compileBacktrack(tr.pattern)
		if err != nil {
			return nil, fmt.Errorf("needs a backtracking engine, and it refused it: %w", err)
		}
		return &Regexp{bt: bt}, nil
	}
	re, err := regexp.Compile("(?m)" + tr.pattern)
	if err != nil {
		return nil, EngineError(err)
	}
	r := &Regexp{re: re}
	if tr.net != "" {
		if r.bt, err = compileBacktrack(tr.net); err != nil {
			return nil, fmt.Errorf("needs a backtracking engine for some values, and it refused it: %w", err)
		}
		r.btNL, r.btNonASCII = tr.caret, tr.boundary
	}
	return r, nil
}

func compileBacktrack(pattern string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(pattern, regexp2.Multiline)
	if err != nil {
		return nil, EngineError(err)
	}
	re.MatchTimeout = matchTimeout
	return re, nil
}

// EngineError rewords a regex engine's compile error without the pattern
// text both engines append to it (a 50 KB pattern would be quoted again):
// the caller names the pattern, cut short.
func EngineError(err error) error {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Errorf("%s", se.Code)
	}
	msg := err.Error()
	// regexp2: "error parsing regexp: MSG in `PATTERN`"
	if i := strings.Index(msg, " in `"); i >= 0 {
		msg = msg[:i]
	}
	return errors.New(strings.TrimPrefix(msg, "error parsing regexp: "))
}

// RE2 returns the exact RE2 form (with a leading (?m)), for a caller that
// derives a faster matcher from it; nil when the pattern runs only on the
// backtracking engine. Before using it on s, check Differs(s).
func (r *Regexp) RE2() *regexp.Regexp { return r.re }

// Backtracks reports whether the pattern runs only on the backtracking
// engine (look-around, back-references, atomic groups, \Z).
func (r *Regexp) Backtracks() bool { return r.re == nil }

// Differs reports whether RE2 would read the pattern otherwise than Onigmo
// on s, so that MatchString runs the backtracking form: a pattern with ^
// on a value ending with a newline, with \b or \B on a value that is not
// ASCII.
func (r *Regexp) Differs(s string) bool {
	return r.re != nil && r.bt != nil &&
		(r.btNL && len(s) > 0 && s[len(s)-1] == '\n' || r.btNonASCII && !isASCII(s))
}

// Guarded reports whether Differs can ever be true for this pattern.
func (r *Regexp) Guarded() bool { return r.re != nil && r.bt != nil }

// MatchString reports whether s contains a match, with Ruby's meaning. Its
// only error is ErrTimeout.
func (r *Regexp) MatchString(s string) (bool, error) {
	if r.re != nil && !r.Differs(s) {
		return r.re.MatchString(s), nil
	}
	ok, err := r.bt.MatchString(s)
	if err != nil {
		timeouts.Add(1)
		return false, ErrTimeout
	}
	return ok, nil
}

// MatchPrefix reports whether a match of at least one character starts at
// the beginning of s (Onigmo's onig_match, as Fluent Bit's router runs
// match_regex against a tag).
func (r *Regexp) MatchPrefix(s string) (bool, error) {
	if r.re != nil && !r.Differs(s) {
		loc := r.re.FindStringIndex(s)
		return loc != nil && loc[0] == 0 && loc[1] > 0, nil
	}
	m, err := r.bt.FindStringMatch(s)
	if err != nil {
		timeouts.Add(1)
		return false, ErrTimeout
	}
	return m != nil && m.Index == 0 && m.Length > 0, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
