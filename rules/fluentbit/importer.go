package fluentbit

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flowsieve/flowsieve/internal/yamlnode"
	"github.com/flowsieve/flowsieve/rules"
	"github.com/flowsieve/flowsieve/rules/configmap"
)

// Options steer an import.
type Options struct {
	// Key is the fluent-bit-filters key to read from a ConfigMap manifest
	// ("flow" when empty).
	Key string
	// Tag is the Fluent Bit tag flow logs carry: a filter applies when its
	// match/match_regex matches it. Empty means the operator's tag for Key
	// ("flows" for flow, "dns" for dns).
	Tag string
	// SkipUnsupported imports the grep filters and lists the others
	// instead of failing on the first filter that is not grep.
	SkipUnsupported bool
}

// Finding is one message about the input: a lint warning, a note, or a
// filter skipped.
type Finding struct {
	Pos Pos
	Msg string
}

func (f Finding) String() string { return f.Pos.String() + ": " + f.Msg }

// Result is an imported set of filters.
type Result struct {
	File  string // the input, as named in sources
	Form  Form
	Key   string // the ConfigMap key read, for the ConfigMap forms
	Tag   string
	Greps []*Grep // the grep filters that apply to Tag and are active, in order
	Rules []OutRule

	Warnings []Finding // rules that never match, are never evaluated, ...
	Notes    []Finding // filters that import as nothing, and why
	Skipped  []Finding // filters that are not grep, with --skip-unsupported
}

// Import reads data (named file in messages) in any of the four forms and
// returns the rules that judge flow logs as Fluent Bit's grep filters did.
func Import(file string, data []byte, opt Options) (*Result, error) {
	if opt.Key == "" {
		opt.Key = "flow"
	}
	if opt.Tag == "" {
		opt.Tag = OperatorKeys[opt.Key]
		if opt.Tag == "" {
			opt.Tag = "flows"
		}
	}
	res := &Result{File: file, Tag: opt.Tag}
	filters, err := readFilters(file, data, opt, res)
	if err != nil {
		return nil, err
	}
	if err := res.build(filters, opt); err != nil {
		return nil, err
	}
	if err := res.check(); err != nil {
		return nil, err
	}
	return res, nil
}

// check loads the rule file the import writes, as rules check would, and
// turns anything the rules engine refuses (a pattern it cannot run with
// Onigmo's exact meaning) into an error at the Fluent Bit rule's line.
func (res *Result) check() error {
	out, err := res.RuleFile()
	if err != nil {
		return err
	}
	_, err = rules.Load(out, "imported.yaml")
	if err == nil {
		return nil
	}
	var errs []error
	for _, e := range rules.Errors(err) {
		re, ok := e.(*rules.Error)
		var from []Rule
		if ok {
			for _, o := range res.Rules {
				if o.Name == re.Rule {
					from = o.From
				}
			}
		}
		if len(from) == 0 {
			errs = append(errs, fmt.Errorf("%s: the imported rules do not load: %w", res.File, e))
			continue
		}
		r := from[0]
		if len(from) > 1 {
			for _, x := range from {
				if strings.Contains(re.Msg, strconv.Quote(x.Pat.Ruby)) {
					r = x
				}
			}
		}
		errs = append(errs, errorf(r.Prop.Pos, "%s: flowsieve cannot run this rule with Fluent Bit's meaning: %s", r.Text(), re.Msg))
	}
	return errors.Join(errs...)
}

// readFilters picks the form and reads the filter instances.
func readFilters(file string, data []byte, opt Options, res *Result) ([]Filter, error) {
	at := func(n int) Pos { return Pos{file, n} }
	if configmap.Looks(data) {
		res.Form, res.Key = FormConfigMap, opt.Key
		cms, err := configmap.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		cm, err := pickConfigMap(cms)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if cm.Name == "fluentd-filters" {
			return nil, fmt.Errorf("%s: this is the fluentd-filters ConfigMap (fluentd <filter> blocks): use flowsieve rules import-fluentd", file)
		}
		if _, read := OperatorKeys[opt.Key]; !read {
			res.Notes = append(res.Notes, Finding{at(cm.Line), fmt.Sprintf("the operator reads only the keys flow and dns of %s; key %s is imported as if it were read with tag %s", cm.Name, opt.Key, opt.Tag)})
		}
		e, ok := cm.Get(opt.Key)
		if _, read := OperatorKeys[opt.Key]; !ok && read {
			// The operator adds no grep filter for a key the ConfigMap
			// lacks: the cluster keeps every record of that tag.
			res.Warnings = append(res.Warnings, Finding{at(cm.Line), fmt.Sprintf(
				"ConfigMap %s has no key %q (it has: %s): the operator adds no filter for tag %s, so every record is kept; the imported rules keep every record too",
				cm.Name, opt.Key, strings.Join(cm.Keys(), ", "), opt.Tag)})
			return nil, nil
		}
		if !ok {
			return nil, fmt.Errorf("%s: ConfigMap %s has no key %q (it has: %s)", file, cm.Name, opt.Key, strings.Join(cm.Keys(), ", "))
		}
		line := func(n int) Pos { return at(e.Line(n)) }
		return operatorValue(e.Value, opt, res, line)
	}
	if sectionHeader.Match(data) {
		// "[FILTER]" followed by indented lines also reads as YAML (a
		// flow sequence), but no YAML filter list holds such a line.
		res.Form = FormClassic
		return ParseClassic(file, data)
	}
	var doc yaml.Node
	yerr := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc)
	if yerr == nil && len(doc.Content) > 0 {
		switch root := doc.Content[0]; {
		case root.Kind == yaml.SequenceNode:
			res.Form, res.Key = FormOperator, opt.Key
			return operatorValue(string(data), opt, res, at)
		case root.Kind == yaml.MappingNode:
			if p, _ := yamlnode.Lookup(root, "pipeline"); p != nil {
				res.Form = FormYAML
				return ParseYAMLConfig(file, data)
			}
		}
	}
	if looksFluentd(data) {
		return nil, fmt.Errorf("%s: this is a fluentd <filter> block, not Fluent Bit: use flowsieve rules import-fluentd", file)
	}
	return nil, fmt.Errorf("%s: not a Fluent Bit config, a fluent-bit-filters value or ConfigMap (no [FILTER] section, no YAML list of filters, no pipeline)", file)
}

// sectionHeader is a classic config section line such as [FILTER].
var sectionHeader = regexp.MustCompile(`(?m)^\[[A-Za-z0-9_. -]*\]`)

// operatorValue reads a fluent-bit-filters value, reporting what the
// operator would do with it.
func operatorValue(text string, opt Options, res *Result, line func(int) Pos) ([]Filter, error) {
	// The operator scopes a filter without match to its key's tag, whatever
	// tag the records being judged carry.
	keyTag := OperatorKeys[opt.Key]
	if keyTag == "" {
		keyTag = opt.Tag
	}
	filters, skip, err := ParseOperatorList(text, opt.Key, keyTag, line)
	if err != nil {
		return nil, err
	}
	if skip != nil {
		hint := ""
		if looksFluentd([]byte(text)) {
			hint = "; it holds a fluentd <filter> block: import that with flowsieve rules import-fluentd"
		}
		res.Warnings = append(res.Warnings, Finding{skip.Pos, fmt.Sprintf("the operator skips key %s whole (and filters nothing with it): %s%s", skip.Key, skip.Reason, hint)})
		return nil, nil
	}
	for _, d := range DuplicateKeys(text, line) {
		res.Warnings = append(res.Warnings, Finding{d.Lost, fmt.Sprintf("filter %d of key %s writes %s twice: the operator keeps only the one of line %d, so this one is ignored (to give several values, write a YAML list)", d.Entry, opt.Key, d.Key, d.Kept.Line)})
	}
	return filters, nil
}

func pickConfigMap(cms []configmap.ConfigMap) (*configmap.ConfigMap, error) {
	if len(cms) == 1 {
		return &cms[0], nil
	}
	return configmap.Find(cms, "fluent-bit-filters")
}

func looksFluentd(data []byte) bool {
	s := string(data)
	return strings.Contains(s, "<filter") && strings.Contains(s, "@type")
}

// build validates every filter as Fluent Bit does when it starts, keeps
// the grep filters that apply to the tag, and turns them into rules.
func (res *Result) build(filters []Filter, opt Options) error {
	for i := range filters {
		f := &filters[i]
		in, err := newInstance(f)
		if err != nil {
			return err
		}
		applies := in.appliesTo(opt.Tag)
		if !eqFold(in.name.Value, "grep") {
			switch {
			case !applies:
				res.Notes = append(res.Notes, Finding{f.Pos, fmt.Sprintf("%s (%s, %s) does not apply to tag %s: imported as nothing", f.Desc, in.name.Value, in.scope(), opt.Tag)})
			case opt.SkipUnsupported:
				res.Skipped = append(res.Skipped, Finding{f.Pos, fmt.Sprintf("%s: filter %q skipped: flowsieve imports only grep filters (the filters after it see the records it would have changed as they were)", f.Desc, in.name.Value)})
			default:
				return errorf(in.name.Pos, "%s: filter %q is not supported: flowsieve imports only grep filters (--skip-unsupported imports the rest and lists what it skipped)", f.Desc, in.name.Value)
			}
			continue
		}
		g, err := newGrep(f, in)
		if err != nil {
			return err
		}
		switch {
		case !applies:
			res.Notes = append(res.Notes, Finding{f.Pos, fmt.Sprintf("%s (grep, %s) does not apply to tag %s: imported as nothing", f.Desc, in.scope(), opt.Tag)})
			continue
		case !in.active:
			res.Notes = append(res.Notes, Finding{f.Pos, fmt.Sprintf("%s is switched off (active %s): Fluent Bit skips it, imported as nothing", f.Desc, activeValue(in))})
			continue
		case len(g.Rules) == 0:
			res.Notes = append(res.Notes, Finding{f.Pos, fmt.Sprintf("%s has no regex or exclude rule: it keeps every record, imported as nothing", f.Desc)})
			continue
		}
		res.Greps = append(res.Greps, g)
		res.lint(g, opt)
		res.emit(len(res.Greps), g)
	}
	return nil
}

func activeValue(in *instance) string {
	for _, p := range in.props {
		if eqFold(p.Key, "active") {
			return p.Value
		}
	}
	return ""
}
