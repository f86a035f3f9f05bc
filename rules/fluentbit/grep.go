package fluentbit

import (
	"fmt"
	"strings"

	"github.com/flowsieve/flowsieve/internal/ruby"
)

// LogicalOp is a grep filter's logical_op.
type LogicalOp uint8

const (
	Legacy LogicalOp = iota // no logical_op, "legacy", or any unrecognised value
	And
	Or
)

func (o LogicalOp) String() string {
	return [...]string{"legacy", "AND", "OR"}[o]
}

// RuleKind is regex (keep matching records) or exclude (drop them).
type RuleKind uint8

const (
	Regex RuleKind = iota
	Exclude
)

func (k RuleKind) String() string {
	if k == Exclude {
		return "exclude"
	}
	return "regex"
}

// Rule is one `regex KEY REGEX` or `exclude KEY REGEX` property.
type Rule struct {
	Kind  RuleKind
	Prop  Prop
	Field string // the key as written
	Acc   Accessor
	Pat   Pattern
}

// Text is the rule as the user wrote it, for messages.
func (r Rule) Text() string { return r.Kind.String() + " " + r.Prop.Value }

// Grep is one grep filter instance, validated the way Fluent Bit validates
// it when it starts.
type Grep struct {
	Filter *Filter
	Op     LogicalOp
	OpProp *Prop // the logical_op property, when given
	Rules  []Rule
}

// instance is what flb_filter_set_property and flb_filter_init make of a
// filter's properties before the plugin sees them.
type instance struct {
	name       Prop
	match      *Prop
	matchRegex *Prop
	matchRe    *ruby.Regexp // nil when match_regex does not compile (Fluent Bit ignores it then)
	props      []Prop       // the plugin's own properties, in order
	active     bool
}

// newInstance applies Fluent Bit's generic filter properties (match,
// match_regex, alias, log_level, log_suppress_interval) and collects the
// rest for the plugin.
func newInstance(f *Filter) (*instance, error) {
	name, ok := f.Name()
	if !ok {
		return nil, errorf(f.Pos, "%s: the filter is missing the 'name' property", f.Desc)
	}
	in := &instance{name: name, active: true}
	for i := range f.Props {
		p := &f.Props[i]
		if strings.Contains(p.Value, "${") {
			return nil, errorf(p.Pos, "%s: %s %q uses an environment variable, which Fluent Bit substitutes when it starts; write the value out before importing", f.Desc, p.Key, p.Value)
		}
		switch {
		case eqFold(p.Key, "name"):
		case eqFold(p.Key, "match_regex"):
			// flb_filter_set_property keeps the last one; a pattern Onigmo
			// refuses leaves no match_regex at all, silently.
			in.matchRegex = p
			m, err := compileMatchRegex(p.Value)
			if err != nil {
				return nil, errorf(p.Pos, "%s: match_regex %q: %v", f.Desc, p.Value, err)
			}
			in.matchRe = m
		case eqFold(p.Key, "match"):
			in.match = p
		case eqFold(p.Key, "alias"):
		case eqFold(p.Key, "log_level"):
			switch strings.ToLower(p.Value) {
			case "off", "error", "warn", "warning", "info", "debug", "trace":
			default:
				return nil, errorf(p.Pos, "%s: could not configure property 'log_level': unknown level %q", f.Desc, p.Value)
			}
		case eqFold(p.Key, "log_suppress_interval"):
		default:
			in.props = append(in.props, *p)
			if eqFold(p.Key, "active") && (eqFold(p.Value, "false") || p.Value == "0") {
				in.active = false
			}
		}
	}
	if in.match == nil && in.matchRe == nil {
		return nil, errorf(f.Pos, "%s: NO match rule for %s filter instance: Fluent Bit refuses to start", f.Desc, name.Value)
	}
	return in, nil
}

// appliesTo is flb_router_match: match_regex first (anchored at the start
// of the tag, a non-empty match), then the match wildcard.
func (in *instance) appliesTo(tag string) bool {
	if in.matchRe != nil {
		// A tag is a few short words: no match runs out of the budget
		// on one (a timeout would read as no match).
		if ok, _ := in.matchRe.MatchPrefix(tag); ok {
			return true
		}
	}
	if in.match == nil {
		return false
	}
	return globMatch(in.match.Value, tag)
}

// scope describes the instance's match properties, for notes.
func (in *instance) scope() string {
	var parts []string
	if in.match != nil {
		m := "match " + in.match.Value
		if in.match.Origin != "" {
			m += " (added by the operator)"
		}
		parts = append(parts, m)
	}
	if in.matchRegex != nil {
		parts = append(parts, "match_regex "+in.matchRegex.Value)
	}
	return strings.Join(parts, ", ")
}

// globMatch is router_match's wildcard match: '*' matches any run of
// characters, everything else itself, case-sensitively, the whole tag.
func globMatch(pat, tag string) bool {
	for len(pat) > 0 {
		if pat[0] == '*' {
			for len(pat) > 0 && pat[0] == '*' {
				pat = pat[1:]
			}
			if pat == "" {
				return true
			}
			for i := 0; i < len(tag); i++ {
				if tag[i] == pat[0] && globMatch(pat, tag[i:]) {
					return true
				}
			}
			return false
		}
		if tag == "" || tag[0] != pat[0] {
			return false
		}
		pat, tag = pat[1:], tag[1:]
	}
	return tag == ""
}

// grepProps are the properties filter_grep's config map declares; active
// and condition are accepted by Fluent Bit for every plugin.
var grepProps = []string{"regex", "exclude", "logical_op", "active", "condition"}

// newGrep is filter_grep's cb_init after Fluent Bit's property check.
func newGrep(f *Filter, in *instance) (*Grep, error) {
	g := &Grep{Filter: f}
	// flb_config_map_properties_check counts a property's occurrences
	// with a case-sensitive compare (property_count), so "Logical_Op" and
	// "logical_op" side by side pass; flb_filter_get_property then reads
	// the first of them, ignoring case.
	count := map[string]int{}
	for i := range in.props {
		p := &in.props[i]
		known := false
		for _, k := range grepProps {
			if eqFold(p.Key, k) {
				known = true
			}
		}
		if !known {
			return nil, errorf(p.Pos, "%s: grep: unknown configuration property '%s'. The following properties are allowed: regex, exclude and logical_op", f.Desc, p.Key)
		}
		if eqFold(p.Key, "condition") {
			return nil, errorf(p.Pos, "%s: the condition property is not supported by the importer", f.Desc)
		}
		if eqFold(p.Key, "logical_op") {
			count[p.Key]++
			if count[p.Key] > 1 {
				return nil, errorf(p.Pos, "%s: grep: configuration property '%s' is set %d times", f.Desc, p.Key, count[p.Key])
			}
			if g.OpProp != nil {
				continue
			}
			g.OpProp = p
			switch {
			case eqFold(p.Value, "and"):
				g.Op = And
			case eqFold(p.Value, "or"):
				g.Op = Or
			}
		}
	}
	if !in.active {
		return g, nil // Fluent Bit does not even initialise it
	}
	first := -1
	for i := range in.props {
		p := in.props[i]
		var kind RuleKind
		switch {
		case eqFold(p.Key, "regex"):
			kind = Regex
		case eqFold(p.Key, "exclude"):
			kind = Exclude
		default:
			continue
		}
		if g.Op != Legacy && first >= 0 && RuleKind(first) != kind {
			return nil, errorf(p.Pos, "%s: grep: Both 'regex' and 'exclude' are set (logical_op %s allows one kind)", f.Desc, g.Op)
		}
		first = int(kind)
		field, pat, ok := splitRule(p.Value)
		if !ok {
			return nil, errorf(p.Pos, "%s: grep: invalid regex, expected field and regular expression in %s %q", f.Desc, p.Key, p.Value)
		}
		acc, err := parseAccessor(field)
		if err != nil {
			return nil, errorf(p.Pos, "%s: grep: %v", f.Desc, err)
		}
		if !accessorEmittable(acc) {
			return nil, errorf(p.Pos, "%s: record accessor %q: keys holding quotes, brackets or backslashes are not supported by the importer", f.Desc, field)
		}
		pt, err := parsePattern(pat)
		if err != nil {
			return nil, errorf(p.Pos, "%s: grep: could not compile regex pattern '%s': %v", f.Desc, pat, err)
		}
		g.Rules = append(g.Rules, Rule{Kind: kind, Prop: p, Field: field, Acc: acc, Pat: pt})
	}
	if g.Op != Legacy && len(g.Rules) == 0 {
		return nil, errorf(f.Pos, "%s: grep with logical_op %s and no regex or exclude: Fluent Bit's behaviour is undefined (it reads an unset rule)", f.Desc, g.Op)
	}
	return g, nil
}

// splitRule is flb_utils_split(value, ' ', 1): leading spaces skipped, the
// key up to the next space, and the regular expression the verbatim rest
// after that one space.
func splitRule(v string) (field, pat string, ok bool) {
	i := 0
	for i < len(v) && v[i] == ' ' {
		i++
	}
	end := strings.IndexByte(v[i:], ' ')
	if end <= 0 {
		return "", "", false
	}
	field = v[i : i+end]
	rest := i + end + 1
	if rest >= len(v) {
		return "", "", false
	}
	return field, v[rest:], true
}

// describe says what a rule does, for rule descriptions and warnings.
func (r Rule) describe(op LogicalOp) string {
	re := "/" + r.Pat.Body + "/" + r.Pat.Flags
	switch r.Kind {
	case Exclude:
		return fmt.Sprintf("drops records whose %s is a string matching %s", r.Acc, re)
	default:
		if op == Legacy {
			return fmt.Sprintf("keeps only records whose %s is a string matching %s (in legacy mode this first regex rule decides alone)", r.Acc, re)
		}
		return fmt.Sprintf("keeps only records whose %s is a string matching %s", r.Acc, re)
	}
}

// accessorEmittable reports whether the rule file's bracket syntax can
// carry the accessor unchanged.
func accessorEmittable(a Accessor) bool {
	if len(a.Subs) == 0 {
		return true
	}
	if strings.ContainsAny(a.Key, `'[]\`) {
		return false
	}
	for _, s := range a.Subs {
		if !s.IsIndex && strings.ContainsAny(s.Str, `'[]\`) {
			return false
		}
	}
	return true
}
