package fluentbit

import (
	"fmt"
	"strings"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/quote"
	"github.com/flowsieve/flowsieve/internal/ruby"
)

// lint reports what a user migrating from Fluent Bit should know about a
// grep filter: rules that can never match a Calico flow log, rules Fluent
// Bit never evaluates, patterns RE2 cannot run, and the operator's
// reordering. The imported rules keep Fluent Bit's behaviour regardless:
// the warnings explain it, they do not change it.
func (res *Result) lint(g *Grep, opt Options) {
	warn := func(p Pos, format string, args ...any) {
		res.Warnings = append(res.Warnings, Finding{p, fmt.Sprintf(format, args...)})
	}
	if g.OpProp != nil && g.Op == Legacy && !eqFold(g.OpProp.Value, "legacy") {
		warn(g.OpProp.Pos, "logical_op %q is neither AND, OR nor legacy: Fluent Bit silently uses legacy mode (rules in order, the first regex decides)", g.OpProp.Value)
	}
	decider := -1
	for i, r := range g.Rules {
		if g.Op == Legacy && decider >= 0 {
			d := g.Rules[decider]
			warn(r.Prop.Pos, "%s is never evaluated: without logical_op, the regex rule of line %d (%s) keeps or drops every record by itself and Fluent Bit reads no rule after it", r.Text(), d.Prop.Pos.Line, d.Text())
			continue
		}
		if g.Op == Legacy && r.Kind == Regex {
			decider = i
		}
		if !flowTag(opt.Tag) {
			// DNS and other logs have fields of their own: nothing to say.
		} else if why := neverString(r.Acc); why != "" {
			warn(r.Prop.Pos, "%s never matches: %s, and Fluent Bit's grep matches only string values; %s", r.Text(), why, consequence(g, r))
		} else if _, known := codec.FieldByName(r.Acc.Key); !known {
			warn(r.Prop.Pos, "%s: %s is not a field of Calico flow logs; unless the records carry it, it never matches and %s", r.Text(), r.Acc.Key, consequence(g, r))
		} else if id, _ := codec.FieldByName(r.Acc.Key); id.Type() == codec.TypeIP && len(r.Acc.Subs) == 0 {
			what := "so this rule drops those flows"
			if r.Kind == Exclude {
				what = "so this rule never drops those flows"
			}
			warn(r.Prop.Pos, "%s: %s is null in aggregated flow logs, and null never matches; %s", r.Text(), r.Acc.Key, what)
		} else if len(r.Acc.Subs) > 0 && (id.Type() == codec.TypeString || id.Type() == codec.TypeIP) {
			warn(r.Prop.Pos, "%s: %s holds a string in Calico flow logs; Fluent Bit ignores the subkeys and matches the whole string", r.Text(), r.Acc.Key)
		}
		if w := r.Pat.Written; w != "" && (isSpace(w[0]) || isSpace(w[len(w)-1])) && !strings.Contains(r.Pat.Flags, "x") {
			warn(r.Prop.Pos, "%s: the pattern %q begins or ends with white space, which Fluent Bit keeps (the key ends at the first space; the rest is the pattern, verbatim)", r.Text(), w)
		}
		if re, err := ruby.Compile(r.Pat.Ruby); err == nil && re.Backtracks() {
			warn(r.Prop.Pos, "%s: pattern %s uses Onigmo features RE2 cannot run (look-around, back-references, ...); flowsieve runs it on its backtracking engine, which is slower", r.Text(), quote.Cut(r.Pat.Body))
		}
	}
	if (res.Form == FormOperator || res.Form == FormConfigMap) && g.Op == Legacy {
		res.lintSorted(g)
	}
}

// lintSorted warns when the operator's key sorting ran the rules of a
// legacy filter in another order than the user wrote them, in a way that
// matters: an exclude written after the deciding regex now runs before it.
func (res *Result) lintSorted(g *Grep) {
	decider := -1
	for i, r := range g.Rules {
		if r.Kind == Regex {
			decider = i
			break
		}
	}
	if decider < 0 {
		return
	}
	d := g.Rules[decider]
	for _, r := range g.Rules[:decider] {
		if r.Kind == Exclude && r.Prop.Pos.Line > d.Prop.Pos.Line {
			res.Warnings = append(res.Warnings, Finding{r.Prop.Pos, fmt.Sprintf("%s is written after %s (line %d), but the operator renders each filter with its keys sorted, so Fluent Bit evaluates every exclude before the regex (in a classic config, written in this order, it would never be evaluated)", r.Text(), d.Text(), d.Prop.Pos.Line)})
		}
	}
}

// neverString explains why the accessor can never reach a string value in
// a Calico flow log, or returns "".
func neverString(a Accessor) string {
	id, known := codec.FieldByName(a.Key)
	if !known {
		return ""
	}
	switch id.Type() {
	case codec.TypeInt:
		return fmt.Sprintf("%s is a number in Calico flow logs", a.Key)
	case codec.TypeIntList:
		return fmt.Sprintf("%s is a list of numbers in Calico flow logs", a.Key)
	case codec.TypeLabels, codec.TypePolicies:
		if len(a.Subs) == 0 {
			return fmt.Sprintf("%s is an object in Calico flow logs (use a subkey such as $%s['labels'][0] to reach its strings)", a.Key, a.Key)
		}
	case codec.TypeStringList:
		if len(a.Subs) == 0 {
			return fmt.Sprintf("%s is a list in Calico flow logs (use an index such as $%s[0] to reach its strings)", a.Key, a.Key)
		}
	}
	return ""
}

// consequence says what a rule that never matches does to the records.
func consequence(g *Grep, r Rule) string {
	switch {
	case r.Kind == Exclude && g.Op == And && len(g.Rules) > 1:
		return "so this AND filter never drops anything"
	case r.Kind == Exclude:
		return "so it never drops anything"
	case g.Op == Or && len(g.Rules) > 1:
		return "the other regex rules of this OR filter decide alone"
	default:
		return "so this filter drops every flow log"
	}
}

// flowTag reports whether records with this tag are flow logs (the
// operator tags them flows, and non_cluster_flows for non-cluster hosts).
func flowTag(tag string) bool { return tag == "flows" || strings.HasSuffix(tag, "_flows") }
