package rules

import "github.com/flowsieve/flowsieve/codec"

// Threat rules that cannot see (issue 14, §4). Calico aggregates flow
// logs: felix's flowLogsFileAggregationKindForAllowed (default 2) and
// ...ForDenied (default 1) set how much of each flow is kept. From level
// 1 the source port is null; from level 2 the source and destination
// addresses are null and the pod names are "-" (only the *_name_aggr
// prefixes remain). A threat rule on one of those fields silently matches
// nothing on such flows: `rules check` warns about it (Set.BlindSpots),
// and Judge notes, per threat rule that did not match, each such field
// one of its tests reached and found empty (Verdict.Blind), for
// flowsieve_threat_unevaluable_total. A test that was not reached did not
// count (a rule on action deny and dest_ip is not blind on an allowed
// flow: it did not need the address), and "absent: true" sees an empty
// field as it is; "absent: false" on one is blind (it asked for it).

// aggregated lists the fields Calico empties on aggregation and the level
// from which it does.
var aggregated = [...]struct {
	field codec.Field
	level int
}{
	{codec.SourcePort, 1},
	{codec.SourceIP, 2},
	{codec.DestIP, 2},
	{codec.SourceName, 2},
	{codec.DestName, 2},
}

// maxAggregationLevel is felix's highest aggregation level.
const maxAggregationLevel = 3

// Blind is one threat rule that could not judge a flow on one field it
// needs: the flow did not match it and lacked the field.
type Blind struct {
	Rule  int // index into Set.ThreatRules
	Field codec.Field
}

// BlindSpot is a threat rule that needs a field Calico empties on
// aggregated flows.
type BlindSpot struct {
	Rule, Field string
	// Levels are the aggregation levels that empty the field, e.g. "2 and 3".
	Levels string
}

// BlindSpotIndex is b's index in BlindSpots, or -1 when the rule does not
// need the field: what a per-rule-and-field counter is indexed by.
func (s *Set) BlindSpotIndex(b Blind) int {
	t := &s.threats[b.Rule]
	for i, f := range t.needs {
		if f == b.Field {
			return t.blindOff + i
		}
	}
	return -1
}

// BlindSpots lists, per threat rule in file order, the fields it needs
// that Calico empties on aggregation.
func (s *Set) BlindSpots() []BlindSpot {
	var out []BlindSpot
	for i := range s.threats {
		for _, f := range s.threats[i].needs {
			out = append(out, BlindSpot{Rule: s.threatInfo[i].Name, Field: f.String(), Levels: levelsFrom(aggregationLevel(f))})
		}
	}
	return out
}

// blindSpots counts the Set's blind spots so far (while loading).
func blindSpots(s *Set) int {
	n := 0
	for i := range s.threats {
		n += len(s.threats[i].needs)
	}
	return n
}

func levelsFrom(level int) string {
	out := ""
	for l := level; l <= maxAggregationLevel; l++ {
		switch {
		case out == "":
		case l == maxAggregationLevel:
			out += " and "
		default:
			out += ", "
		}
		out += string(rune('0' + l))
	}
	return out
}

func aggregationLevel(f codec.Field) int {
	for _, a := range aggregated {
		if a.field == f {
			return a.level
		}
	}
	return 0
}

// markBlind marks a threat rule's tests on aggregated fields (leaf.agg)
// and lists those fields, in the order of aggregated. An "absent: true"
// test is not marked: it sees an emptied field as it is.
func markBlind(n *node) []codec.Field {
	var used [codec.NumFields]bool
	var walk func(n *node)
	walk = func(n *node) {
		if n.op == opLeaf {
			l := &n.leaf
			if (l.kind == kAbsent && l.absent) || len(l.path) > 0 {
				return
			}
			for i, a := range aggregated {
				if a.field == l.field {
					l.agg, used[l.field] = 1<<i, true
				}
			}
			return
		}
		for i := range n.kids {
			walk(&n.kids[i])
		}
	}
	walk(n)
	var out []codec.Field
	for _, a := range aggregated {
		if used[a.field] {
			out = append(out, a.field)
		}
	}
	return out
}

// appendBlind appends a Blind per bit of blind (evalState.blind).
func appendBlind(dst []Blind, rule int, blind uint8) []Blind {
	for i, a := range aggregated {
		if blind&(1<<i) != 0 {
			dst = append(dst, Blind{Rule: rule, Field: a.field})
		}
	}
	return dst
}

// emptied reports whether the flow lacks a field as Calico's aggregation
// leaves it: absent, null, or "-" (Calico's "none", which the text
// decoder already reads as absent).
func emptied(f *codec.Flow, id codec.Field) bool {
	v := f.Get(id)
	switch v.Kind {
	case codec.KindAbsent, codec.KindNull:
		return true
	case codec.KindString:
		return v.Str == "-"
	}
	return false
}
