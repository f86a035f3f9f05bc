package fluentbit

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flowsieve/flowsieve/codec"
)

// OutRule is one rule of the imported rule file.
type OutRule struct {
	Name        string
	Action      string // exclude or include
	Combine     string // "", "any" or "all": how Leaves combine
	Leaves      []Leaf
	From        []Rule // the Fluent Bit rules it stands for
	Grep        int    // index into Result.Greps
	Description string
}

// Leaf is one regex test in the rule file's syntax.
type Leaf struct {
	Field string // a Calico field name, or
	Key   string // a record accessor in the rule file's (fluentd) syntax
	Regex string // Ruby syntax, flags folded in
}

// Source is where the rule came from: "file:line" of each Fluent Bit rule
// it stands for.
func (o OutRule) Source() string {
	var lines []string
	for _, r := range o.From {
		lines = append(lines, strconv.Itoa(r.Prop.Pos.Line))
	}
	return o.From[0].Prop.Pos.File + ":" + strings.Join(lines, ",")
}

// emit turns grep filter number n (1-based) into rules. With native "drop
// when an exclude matches or an include does not" rules applied in file
// order, a sequence of grep filters is the concatenation of their rules:
// a record a filter drops never reaches the next filter, and the first
// rule that drops names the Fluent Bit rule that dropped it.
func (res *Result) emit(n int, g *Grep) {
	single := func(r Rule) {
		action := "include"
		if r.Kind == Exclude {
			action = "exclude"
		}
		res.add(OutRule{Action: action, Leaves: []Leaf{leafFor(r)}, From: []Rule{r}, Grep: n - 1,
			Description: fmt.Sprintf("Fluent Bit grep (%s): %s", g.Op, r.describe(g.Op))}, n)
	}
	switch {
	case g.Op == Legacy:
		// Excludes before the first regex each drop on a match; the first
		// regex keeps or drops alone; nothing after it is ever read.
		for _, r := range g.Rules {
			single(r)
			if r.Kind == Regex {
				break
			}
		}
	case g.Op == And && g.Rules[0].Kind == Regex, g.Op == Or && g.Rules[0].Kind == Exclude:
		// Every regex must match / any exclude drops: one rule each.
		for _, r := range g.Rules {
			single(r)
		}
	default:
		// OR of regexes keeps when any matches; AND of excludes drops only
		// when all match: one rule over all of them.
		if len(g.Rules) == 1 {
			single(g.Rules[0])
			return
		}
		o := OutRule{Action: "include", Combine: "any", From: g.Rules, Grep: n - 1}
		what := "keeps only records where at least one of these matches"
		if g.Op == And {
			o.Action, o.Combine = "exclude", "all"
			what = "drops records where all of these match"
		}
		var parts []string
		for _, r := range g.Rules {
			o.Leaves = append(o.Leaves, leafFor(r))
			parts = append(parts, fmt.Sprintf("%s =~ /%s/%s", r.Acc, r.Pat.Body, r.Pat.Flags))
		}
		o.Description = fmt.Sprintf("Fluent Bit grep (%s): %s (as strings): %s", g.Op, what, strings.Join(parts, "; "))
		res.add(o, n)
	}
}

// add names o uniquely and appends it.
func (res *Result) add(o OutRule, n int) {
	var base string
	if o.Combine != "" {
		base = fmt.Sprintf("fluent-bit-%d-%s-%s", n, o.From[0].Kind, strings.ToLower(res.Greps[n-1].Op.String()))
	} else {
		base = fmt.Sprintf("fluent-bit-%d-%s-%s", n, o.From[0].Kind, nameSafe(o.From[0].Acc.Key))
	}
	name := base
	for i := 2; res.hasName(name); i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	o.Name = name
	res.Rules = append(res.Rules, o)
}

func (res *Result) hasName(name string) bool {
	for _, r := range res.Rules {
		if r.Name == name {
			return true
		}
	}
	return false
}

// nameSafe keeps the characters rule names allow.
func nameSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c == '.' || c == '-' || c == ':' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			b[i] = '_'
		}
	}
	return string(b)
}

// leafFor writes a rule's accessor as the rule file's field (a Calico field
// with no subkeys) or key (fluentd record_accessor bracket syntax, which
// the rule file shares: `$['a']['b'][0]`).
func leafFor(r Rule) Leaf {
	l := Leaf{Regex: r.Pat.Ruby}
	if _, known := codec.FieldByName(r.Acc.Key); known && len(r.Acc.Subs) == 0 {
		l.Field = r.Acc.Key
		return l
	}
	if len(r.Acc.Subs) == 0 {
		l.Key = r.Acc.Key
		return l
	}
	l.Key = bracketAccessor(r.Acc.Key, r.Acc.Subs)
	return l
}

func bracketAccessor(key string, subs []Sub) string {
	var b strings.Builder
	b.WriteString("$['" + key + "']")
	for _, s := range subs {
		if s.IsIndex {
			fmt.Fprintf(&b, "[%d]", s.Index)
		} else {
			b.WriteString("['" + s.Str + "']")
		}
	}
	return b.String()
}

// RuleFile renders the imported rules as a flowsieve rule file.
func (res *Result) RuleFile() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	root.HeadComment = res.header()
	list := &yaml.Node{Kind: yaml.SequenceNode}
	root.Content = append(root.Content, str("filters"), list)
	lastGrep := -1
	for _, o := range res.Rules {
		m := &yaml.Node{Kind: yaml.MappingNode}
		if o.Grep != lastGrep {
			g := res.Greps[o.Grep]
			m.HeadComment = fmt.Sprintf("%s (%s): grep, logical_op %s", g.Filter.Desc, g.Filter.Pos, g.Op)
			lastGrep = o.Grep
		}
		m.Content = append(m.Content,
			str("name"), str(o.Name),
			str("action"), str(o.Action),
			str("compat"), str("fluent-bit"),
			str("source"), quoted(o.Source()),
			str("description"), quoted(o.Description),
			str("when"), whenNode(o))
		list.Content = append(list.Content, m)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("writing rule file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("writing rule file: %w", err)
	}
	return buf.Bytes(), nil
}

func (res *Result) header() string {
	what := string(res.Form)
	if res.Key != "" {
		what += ", key " + res.Key
	}
	h := fmt.Sprintf("Imported by flowsieve rules import-fluent-bit from %s (%s, tag %s).\n", res.File, what, res.Tag)
	h += "compat: fluent-bit rules judge as Fluent Bit's grep does: only string values\n" +
		"match, patterns are Onigmo (Ruby) regexes. Each rule's source is the line it came from."
	if len(res.Rules) == 0 {
		h += "\nNothing to import: no grep filter applies to tag " + res.Tag + "."
	}
	return h
}

func whenNode(o OutRule) *yaml.Node {
	test := func(field, key, re string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		if field != "" {
			n.Content = append(n.Content, str("field"), str(field))
		} else {
			n.Content = append(n.Content, str("key"), quoted(key))
		}
		n.Content = append(n.Content, str("regex"), quoted(re))
		return n
	}
	leaf := func(l Leaf) *yaml.Node { return test(l.Field, l.Key, l.Regex) }
	if o.Combine == "" {
		return leaf(o.Leaves[0])
	}
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, l := range o.Leaves {
		list.Content = append(list.Content, leaf(l))
	}
	return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str(o.Combine), list}}
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: s, Style: yaml.DoubleQuotedStyle}
}
