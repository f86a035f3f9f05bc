package ruby

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestLookAheadPatternTimeoutWithinBudget: a fluentd look-ahead pattern that
// backtracks without end used to cost ~200 ms per match against the
// documented 100 ms budget (regexp2's 100 ms clock tick pads each deadline),
// and its timeouts were not counted anywhere.
func TestLookAheadPatternTimeoutWithinBudget(t *testing.T) {
	re, err := Compile(`(?=(a+)+b)`)
	if err != nil {
		t.Fatal(err)
	}
	if !re.Backtracks() {
		t.Fatal("a look-ahead must run on the backtracking engine")
	}
	value := strings.Repeat("a", 64)
	before := Timeouts()
	const runs = 7
	var took []time.Duration
	for i := 0; i < runs; i++ {
		start := time.Now()
		ok, err := re.MatchString(value)
		took = append(took, time.Since(start))
		if ok || !errors.Is(err, ErrTimeout) {
			t.Fatalf("match = %v, %v; want a timeout", ok, err)
		}
	}
	if got := Timeouts() - before; got != runs {
		t.Errorf("Timeouts() counted %d, want %d", got, runs)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	// The median, so one run the loaded machine descheduled does not
	// decide; before the fix it was ~200 ms.
	if med := took[runs/2]; med > MatchBudget+MatchBudget/5 {
		t.Errorf("median match took %v, budget %v (all: %v)", med, MatchBudget, took)
	}
	if took[0] < MatchBudget/2 {
		t.Errorf("fastest timeout after %v: the budget is %v", took[0], MatchBudget)
	}
}

// A pattern Go's RE2 reads except on some values: MatchString picks the
// exact form for those, and MatchPrefix anchors at the start.
func TestMatchForms(t *testing.T) {
	for _, tc := range []struct {
		pat, s        string
		match, prefix bool
	}{
		{`^b`, "a\nb", true, false},
		{`^b`, "a\n", false, false}, // Ruby's ^ does not match after a final newline
		{`\bé`, "x é", true, false},
		{`\bé`, "xé", false, false}, // \b is Unicode-aware in Ruby
		{`flow`, "flows", true, true},
		{`low`, "flows", true, false},
		{`x*`, "flows", true, false}, // an empty match at the start does not count
		{`fl(?=o)`, "flows", true, true},
	} {
		re, err := Compile(tc.pat)
		if err != nil {
			t.Fatalf("%s: %v", tc.pat, err)
		}
		if got, err := re.MatchString(tc.s); got != tc.match || err != nil {
			t.Errorf("%q =~ /%s/: %v, %v; want %v", tc.s, tc.pat, got, err, tc.match)
		}
		if got, err := re.MatchPrefix(tc.s); got != tc.prefix || err != nil {
			t.Errorf("MatchPrefix(/%s/, %q): %v, %v; want %v", tc.pat, tc.s, got, err, tc.prefix)
		}
	}
}

// TestBadRegexErrorQuotesOnce: the engines append the whole pattern to
// their errors; ours name what is wrong and leave quoting to the caller.
func TestBadRegexErrorQuotesOnce(t *testing.T) {
	long := strings.Repeat("x", 50000)
	for _, pat := range []string{long + "(", "(?<=" + long + "(", "(?=" + long + ")\\", long + "[a"} {
		_, err := Compile(pat)
		if err == nil {
			t.Fatalf("%.20s…: compiled", pat)
		}
		if msg := err.Error(); len(msg) > 200 || strings.Contains(msg, "xxxxxxxxxxxxxxxx") {
			t.Errorf("%.20s…: error of %d bytes quotes the pattern: %.200s", pat, len(msg), msg)
		}
	}
}
