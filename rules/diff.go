package rules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Diff is the semantic difference between two rule files: what changed in
// what they decide, not in their text. Comments, formatting, key order
// and YAML style do not count; a rule's condition is compared in one
// canonical form (canonicalWhen).
type Diff struct {
	Filters, Threats []RuleChange
	Feeds            []FeedChange
}

// RuleChange is one rule added, removed or changed, by name.
type RuleChange struct {
	Name string
	Kind ChangeKind
	// Fields lists what changed of a changed rule ("when", "action",
	// "compat", "severity", "description", "position"), old and new.
	Fields []FieldChange
}

// FieldChange is one changed attribute of a rule.
type FieldChange struct{ Field, Old, New string }

// FeedChange is one feed added, removed or whose entries changed: Added
// and Removed count the prefixes (a feed added counts all as added).
type FeedChange struct {
	Name           string
	Kind           ChangeKind
	Added, Removed int
}

// ChangeKind says whether a rule or feed is new, gone or changed.
type ChangeKind string

// The kinds of change.
const (
	Added   ChangeKind = "added"
	Removed ChangeKind = "removed"
	Changed ChangeKind = "changed"
)

// Same reports whether the two files decide alike.
func (d *Diff) Same() bool { return len(d.Filters)+len(d.Threats)+len(d.Feeds) == 0 }

// Summary is the diff in one line: counts of rules and feeds added,
// removed and changed, "no change" when there is none.
func (d *Diff) Summary() string {
	if d.Same() {
		return "no change"
	}
	var parts []string
	count := func(what string, kinds []ChangeKind) {
		var a, r, c int
		for _, k := range kinds {
			switch k {
			case Added:
				a++
			case Removed:
				r++
			default:
				c++
			}
		}
		if a+r+c > 0 {
			parts = append(parts, fmt.Sprintf("%s +%d -%d ~%d", what, a, r, c))
		}
	}
	count("filters", ruleKinds(d.Filters))
	count("threat rules", ruleKinds(d.Threats))
	var fk []ChangeKind
	for _, f := range d.Feeds {
		fk = append(fk, f.Kind)
	}
	count("feeds", fk)
	return strings.Join(parts, ", ")
}

// Lines lists the changes one a line, "filter + drop-dns", "threat rule ~
// c2: severity, when", "feed ~ c2-sample: +3 -1 entries": the reload log's
// account of what a new version changed.
func (d *Diff) Lines() []string {
	var out []string
	rules := func(what string, cs []RuleChange) {
		for _, c := range cs {
			l := fmt.Sprintf("%s %s %s", what, c.Kind.Mark(), c.Name)
			for i, f := range c.Fields {
				sep := ", "
				if i == 0 {
					sep = ": "
				}
				l += sep + f.Field
			}
			out = append(out, l)
		}
	}
	rules("filter", d.Filters)
	rules("threat rule", d.Threats)
	for _, f := range d.Feeds {
		out = append(out, fmt.Sprintf("feed %s %s: +%d -%d entries", f.Kind.Mark(), f.Name, f.Added, f.Removed))
	}
	return out
}

// Mark is "+", "-" or "~", as a diff marks lines.
func (k ChangeKind) Mark() string {
	switch k {
	case Added:
		return "+"
	case Removed:
		return "-"
	}
	return "~"
}

func ruleKinds(cs []RuleChange) []ChangeKind {
	out := make([]ChangeKind, len(cs))
	for i, c := range cs {
		out[i] = c.Kind
	}
	return out
}

// DiffSets compares two loaded rule files. Filters are matched by name, in
// new's order, then the removed ones; a filter's position counts only
// relative to the filters both files have (the first to decide wins, so
// swapping two is a change, adding one in front of them is not a change
// of theirs). Threat rules all run, so their order does not count.
func DiffSets(old, new *Set) Diff {
	var d Diff
	filterName := func(i int, s *Set) string { return s.filters[i].Name }
	oldRank, newRank := commonRank(old, new, len(old.filters), len(new.filters), filterName),
		commonRank(new, old, len(new.filters), len(old.filters), filterName)
	byName(old, new, len(old.filters), len(new.filters), filterName, func(name string, kind ChangeKind, j, i int) {
		if kind != Changed {
			d.Filters = append(d.Filters, RuleChange{Name: name, Kind: kind})
			return
		}
		o, n := &old.filters[j], &new.filters[i]
		var fc []FieldChange
		fc = field(fc, "action", o.Action, n.Action)
		fc = field(fc, "compat", o.Compat, n.Compat)
		fc = field(fc, "when", o.when, n.when)
		fc = field(fc, "rate", fmtNum(o.Rate), fmtNum(n.Rate))
		fc = field(fc, "per", strings.Join(o.Per, ", "), strings.Join(n.Per, ", "))
		fc = field(fc, "max_per_sec", fmtNum(o.MaxPerSec), fmtNum(n.MaxPerSec))
		fc = field(fc, "max_keys", fmtNum(float64(o.MaxKeys)), fmtNum(float64(n.MaxKeys)))
		fc = field(fc, "description", o.Description, n.Description)
		if oldRank[name] != newRank[name] {
			fc = append(fc, FieldChange{"position", fmt.Sprint(j + 1), fmt.Sprint(i + 1)})
		}
		if fc != nil {
			d.Filters = append(d.Filters, RuleChange{Name: name, Kind: Changed, Fields: fc})
		}
	})
	threatName := func(i int, s *Set) string { return s.threatInfo[i].Name }
	byName(old, new, len(old.threats), len(new.threats), threatName, func(name string, kind ChangeKind, j, i int) {
		if kind != Changed {
			d.Threats = append(d.Threats, RuleChange{Name: name, Kind: kind})
			return
		}
		o, n := &old.threatInfo[j], &new.threatInfo[i]
		var fc []FieldChange
		fc = field(fc, "severity", o.Severity, n.Severity)
		fc = field(fc, "when", old.threats[j].when, new.threats[i].when)
		fc = field(fc, "description", o.Description, n.Description)
		if fc != nil {
			d.Threats = append(d.Threats, RuleChange{Name: name, Kind: Changed, Fields: fc})
		}
	})
	feedName := func(i int, s *Set) string { return s.feeds[i].name }
	byName(old, new, len(old.feeds), len(new.feeds), feedName, func(name string, kind ChangeKind, j, i int) {
		switch kind {
		case Added:
			d.Feeds = append(d.Feeds, FeedChange{Name: name, Kind: Added, Added: new.feeds[i].entries})
		case Removed:
			d.Feeds = append(d.Feeds, FeedChange{Name: name, Kind: Removed, Removed: old.feeds[j].entries})
		default:
			o, n := old.feeds[j], new.feeds[i]
			if added, removed := prefixDiff(o, n), prefixDiff(n, o); added+removed > 0 {
				d.Feeds = append(d.Feeds, FeedChange{Name: name, Kind: Changed, Added: added, Removed: removed})
			}
		}
	})
	return d
}

// byName matches the items of two sets by name: each item of new in order
// (Added, or Changed with its index j in old; the callback decides whether
// anything changed), then the items of old that new lacks (Removed).
func byName(old, new *Set, nOld, nNew int, name func(int, *Set) string, visit func(name string, kind ChangeKind, j, i int)) {
	inOld := make(map[string]int, nOld)
	for j := range nOld {
		inOld[name(j, old)] = j
	}
	inNew := make(map[string]bool, nNew)
	for i := range nNew {
		n := name(i, new)
		inNew[n] = true
		if j, ok := inOld[n]; ok {
			visit(n, Changed, j, i)
		} else {
			visit(n, Added, -1, i)
		}
	}
	for j := range nOld {
		if n := name(j, old); !inNew[n] {
			visit(n, Removed, j, -1)
		}
	}
}

// commonRank is the rank of each of s's items that other has too, among
// those common items.
func commonRank(s, other *Set, n, nOther int, name func(int, *Set) string) map[string]int {
	has := make(map[string]bool, nOther)
	for i := range nOther {
		has[name(i, other)] = true
	}
	r := map[string]int{}
	for i := range n {
		if has[name(i, s)] {
			r[name(i, s)] = len(r)
		}
	}
	return r
}

func field(fc []FieldChange, name, old, new string) []FieldChange {
	if old == new {
		return fc
	}
	return append(fc, FieldChange{name, old, new})
}

// fmtNum writes a sample or cap parameter; "" for none (0).
func fmtNum(x float64) string {
	if x == 0 {
		return ""
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// prefixDiff counts the entries of b that a does not have: addresses and
// domain names.
func prefixDiff(a, b *feed) int {
	n := 0
	if b.set != nil {
		for p := range b.set.All() {
			if a.set == nil || !a.set.Get(p) {
				n++
			}
		}
	}
	for name := range b.dom.Names() {
		if !a.dom.Has(name) {
			n++
		}
	}
	return n
}

// canonicalWhen renders a condition as one line of flow-style YAML with
// no comments, so two conditions that differ only in layout compare
// equal and a changed one reads as the rule file would say it.
func canonicalWhen(n *yaml.Node) string {
	b, err := yaml.Marshal(flowCopy(n))
	if err != nil {
		return fmt.Sprintf("(line %d)", n.Line)
	}
	return strings.TrimSpace(string(b))
}

func flowCopy(n *yaml.Node) *yaml.Node {
	c := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value, Alias: n.Alias}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return flowCopy(n.Alias)
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		c.Style = yaml.FlowStyle
	}
	for _, k := range n.Content {
		c.Content = append(c.Content, flowCopy(k))
	}
	if n.Kind == yaml.MappingNode {
		// Key order means nothing in a condition.
		pairs := make([][2]*yaml.Node, 0, len(c.Content)/2)
		for i := 0; i+1 < len(c.Content); i += 2 {
			pairs = append(pairs, [2]*yaml.Node{c.Content[i], c.Content[i+1]})
		}
		sort.SliceStable(pairs, func(a, b int) bool { return pairs[a][0].Value < pairs[b][0].Value })
		c.Content = c.Content[:0]
		for _, p := range pairs {
			c.Content = append(c.Content, p[0], p[1])
		}
	}
	return c
}
