// Package fluentd imports fluentd `grep` filters (the `filters/flow` file of
// Calico's fluentd-filters ConfigMap) into flowsieve's native rule file,
// with fluentd's semantics kept exactly: every imported rule is marked
// `compat: fluentd`, which makes the rules engine test Ruby's to_s of each
// value with the pattern as Ruby reads it (see package rules).
//
// How filter_grep.rb (fluentd v1) judges a record, and how that is kept:
// the conditions of one <filter> fall into four lists,
//
//	regexp-AND  regexpN params (N order), top-level <regexp>, <regexp> of every <and>
//	regexp-OR   <regexp> of every <or>
//	exclude-AND <exclude> of every <and>
//	exclude-OR  excludeN params (N order), top-level <exclude>, <exclude> of every <or>
//
// and the record is dropped when any regexp-AND fails, when no regexp-OR
// matches, when every exclude-AND matches, or when any exclude-OR matches,
// checked in that order with Ruby's short-circuit any?/none?/all?. One
// <filter> becomes ONE exclude rule whose condition is
//
//	any: [not: {all: regexp-AND}, not: {any: regexp-OR}, all: exclude-AND, any: exclude-OR]
//
// (empty lists left out), which the engine evaluates in the same order with
// the same short-circuit, so an error (fluentd's rescue: the record is kept)
// is reached exactly when fluentd would reach it.
package fluentd

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/flowsieve/flowsieve/internal/quote"
	"github.com/flowsieve/flowsieve/internal/ruby"
)

// Result is an imported rule file.
type Result struct {
	YAML     []byte   // the native rule file
	Filters  int      // number of rules written
	Warnings []string // things fluentd ignores that the user should know about
}

// Options steer an import.
type Options struct {
	// Tag is the fluentd tag flow logs carry in Calico's fluentd ("flows",
	// the default): a <filter PATTERN> whose pattern does not match it
	// never sees flow logs, and is left out (with a note).
	Tag string
}

// Import converts fluentd config text holding <filter> sections of @type
// grep, for records tagged "flows". name is the file name used in messages
// and in each rule's source. Anything it cannot import exactly is an error
// naming the line; all such errors are returned (errors.Join).
func Import(data []byte, name string) (*Result, error) {
	return ImportWith(data, name, Options{})
}

// ImportWith is Import with options.
func ImportWith(data []byte, name string, opt Options) (*Result, error) {
	if opt.Tag == "" {
		opt.Tag = "flows"
	}
	base := filepath.Base(name)
	root, err := parse(data, base)
	if err != nil {
		return nil, err
	}
	im := &importer{file: base, names: map[string]bool{}, tag: opt.Tag}
	res := &Result{}
	var rulesOut []string
	for _, p := range root.params {
		im.errorf(p.line, "parameter %q outside any section cannot be imported", p.key)
	}
	n := 0
	for _, e := range root.elems {
		if e.name != "filter" {
			im.errorf(e.line, "<%s> cannot be imported: only <filter> sections of @type grep can", e.name)
			continue
		}
		n++
		r := im.filter(e, n)
		if r != "" {
			rulesOut = append(rulesOut, r)
			res.Filters++
		}
	}
	if len(im.errs) > 0 {
		return nil, errors.Join(im.errs...)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported from %s by `flowsieve rules import-fluentd`.\n", base)
	b.WriteString("# Each rule is one fluentd <filter @type grep> and judges records exactly as\n")
	b.WriteString("# fluentd did (compat: fluentd): a value is tested as Ruby's to_s of it, a\n")
	b.WriteString("# missing key as \"\", patterns are Ruby regexes (unanchored, ^/$ per line).\n")
	if len(rulesOut) == 0 {
		b.WriteString("filters: []\n")
	} else {
		b.WriteString("filters:\n")
		for _, r := range rulesOut {
			b.WriteString(r)
		}
	}
	for _, c := range im.comments {
		b.WriteString(c)
	}
	res.YAML = b.Bytes()
	res.Warnings = im.warnings
	return res, nil
}

type importer struct {
	tag      string
	file     string
	errs     []error
	warnings []string
	comments []string
	names    map[string]bool
}

func (im *importer) errorf(line int, format string, args ...any) {
	im.errs = append(im.errs, fmt.Errorf("%s:%d: %s", im.file, line, fmt.Sprintf(format, args...)))
}

func (im *importer) warnf(line int, format string, args ...any) {
	im.warnings = append(im.warnings, fmt.Sprintf("%s:%d: %s", im.file, line, fmt.Sprintf(format, args...)))
}

// expr is one grep condition: a record_accessor key and a Ruby pattern.
type expr struct {
	key, pattern string
	line         int // the pattern's line (the legacy parameter's)
	keyLine      int
}

var legacyParam = regexp.MustCompile(`^(regexp|exclude)([1-9][0-9]*)$`)

// filter converts one <filter> section to a rule (YAML list item), or
// returns "" after recording errors.
func (im *importer) filter(e *element, n int) string {
	errsBefore := len(im.errs)
	typ, ok := e.get("@type")
	if !ok {
		im.errorf(e.line, "<filter %s> has no @type; only @type grep can be imported", e.arg)
		return ""
	}
	applies, err := filterApplies(e.arg, im.tag)
	if err != nil {
		im.errorf(e.line, "<filter %s>: %v", e.arg, err)
		return ""
	}
	if !applies {
		im.warnf(e.line, "<filter %s> does not apply to tag %q: not imported", e.arg, im.tag)
		im.comments = append(im.comments, fmt.Sprintf("# %s:%d: <filter %s> does not apply to tag %q (fluentd never runs it on these records); not imported.\n", im.file, e.line, e.arg, im.tag))
		return ""
	}
	if typ.value != "grep" {
		im.errorf(typ.line, "<filter %s> is @type %s; only @type grep can be imported", e.arg, typ.value)
		return ""
	}
	name := fmt.Sprintf("fluentd-grep-%d", n)
	if id, ok := e.get("@id"); ok && id.value != "" {
		name = sanitizeName(id.value)
	}
	for base, i := name, 2; im.names[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	im.names[name] = true

	var regexpAND, regexpOR, excludeAND, excludeOR []expr
	// Duplicate keys are compared as written, per list, as fluentd does.
	seen := map[string]map[string]bool{"rAND": {}, "rOR": {}, "eAND": {}, "eOR": {}}
	add := func(list *[]expr, which string, x expr, msg string) {
		if seen[which][x.key] {
			im.errorf(x.line, "%s: %s (fluentd refuses this config)", msg, x.key)
			return
		}
		seen[which][x.key] = true
		*list = append(*list, x)
	}

	// Legacy regexpN/excludeN, in N order (not file order), as fluentd's
	// configure loops over 1..20.
	legacy := map[string]map[int]param{"regexp": {}, "exclude": {}}
	for _, p := range e.params {
		switch {
		case p.key == "@type", p.key == "@id", p.key == "@log_level":
		case legacyParam.MatchString(p.key):
			m := legacyParam.FindStringSubmatch(p.key)
			num, _ := strconv.Atoi(m[2])
			if num > 20 {
				im.warnf(p.line, "fluentd ignores %s (only 1 to 20 exist): not imported", p.key)
				continue
			}
			legacy[m[1]][num] = p // a repeated parameter: the last one wins
		default:
			im.warnf(p.line, "fluentd's grep ignores parameter %q: not imported", p.key)
		}
	}
	for _, kind := range []string{"regexp", "exclude"} {
		for i := 1; i <= 20; i++ {
			p, ok := legacy[kind][i]
			if !ok {
				continue
			}
			key, pat, found := strings.Cut(p.value, " ")
			if !found {
				im.errorf(p.line, "%s%d does not contain 2 parameters (KEY PATTERN)", kind, i)
				continue
			}
			// The legacy pattern is taken verbatim: no /.../ handling.
			x := expr{key: key, pattern: pat, line: p.line, keyLine: p.line}
			if !im.checkExpr(x) {
				continue
			}
			if kind == "regexp" {
				add(&regexpAND, "rAND", x, fmt.Sprintf("regexp%d contains a duplicated key", i))
			} else {
				add(&excludeOR, "eOR", x, fmt.Sprintf("exclude%d contains a duplicated key", i))
			}
		}
	}

	var ands, ors []*element
	var tops []*element
	for _, c := range e.elems {
		switch c.name {
		case "regexp", "exclude":
			tops = append(tops, c)
		case "and":
			ands = append(ands, c)
		case "or":
			ors = append(ors, c)
		default:
			im.errorf(c.line, "<%s> is not a section of fluentd's grep filter", c.name)
		}
	}
	// fluentd reads all top-level <regexp> first, then all <exclude>.
	for _, want := range []string{"regexp", "exclude"} {
		for _, c := range tops {
			if c.name != want {
				continue
			}
			x, ok := im.section(c)
			if !ok {
				continue
			}
			if want == "regexp" {
				add(&regexpAND, "rAND", x, "Duplicate key")
			} else {
				add(&excludeOR, "eOR", x, "Duplicate key")
			}
		}
	}
	for _, group := range [][]*element{ands, ors} {
		for _, g := range group {
			for _, p := range g.params {
				im.warnf(p.line, "fluentd ignores parameter %q in <%s>: not imported", p.key, g.name)
			}
			var hasR, hasE bool
			for _, c := range g.elems {
				switch c.name {
				case "regexp":
					hasR = true
				case "exclude":
					hasE = true
				default:
					im.errorf(c.line, "<%s> is not allowed in <%s>", c.name, g.name)
				}
			}
			if hasR && hasE {
				im.errorf(g.line, "Do not specify both <regexp> and <exclude> in <%s> (fluentd refuses this config)", g.name)
				continue
			}
			for _, c := range g.elems {
				if c.name != "regexp" && c.name != "exclude" {
					continue
				}
				x, ok := im.section(c)
				if !ok {
					continue
				}
				msg := "Duplicate key in <" + g.name + ">"
				switch {
				case g.name == "and" && c.name == "regexp":
					add(&regexpAND, "rAND", x, msg)
				case g.name == "and":
					add(&excludeAND, "eAND", x, msg)
				case c.name == "regexp":
					add(&regexpOR, "rOR", x, msg)
				default:
					add(&excludeOR, "eOR", x, msg)
				}
			}
		}
	}
	if len(im.errs) > errsBefore {
		return ""
	}
	if len(regexpAND)+len(regexpOR)+len(excludeAND)+len(excludeOR) == 0 {
		im.warnf(e.line, "<filter %s> has no conditions: fluentd keeps every record, so there is nothing to import", e.arg)
		im.comments = append(im.comments, fmt.Sprintf("# %s:%d: <filter %s> @type grep without conditions keeps every record; nothing imported.\n", im.file, e.line, e.arg))
		return ""
	}

	// The four checks in fluentd's order; one alone is written without
	// the enclosing any.
	type part struct {
		neg bool
		op  string
		xs  []expr
	}
	var parts []part
	if len(regexpAND) > 0 {
		parts = append(parts, part{true, "all", regexpAND})
	}
	if len(regexpOR) > 0 {
		parts = append(parts, part{true, "any", regexpOR})
	}
	if len(excludeAND) > 0 {
		parts = append(parts, part{false, "all", excludeAND})
	}
	if len(excludeOR) > 0 {
		parts = append(parts, part{false, "any", excludeOR})
	}
	var when strings.Builder
	if len(parts) == 1 {
		p := parts[0]
		if p.neg {
			when.WriteString("      not:\n" + block("        ", p.op, p.xs))
		} else {
			when.WriteString(block("      ", p.op, p.xs))
		}
	} else {
		when.WriteString("      any:\n")
		for _, p := range parts {
			if p.neg {
				when.WriteString("        - not:\n" + block("            ", p.op, p.xs))
			} else {
				when.WriteString("        - " + strings.TrimPrefix(block("          ", p.op, p.xs), "          "))
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n", name)
	b.WriteString("    action: exclude\n")
	b.WriteString("    compat: fluentd\n")
	fmt.Fprintf(&b, "    source: %s\n", yamlQuote(fmt.Sprintf("%s:%d", im.file, e.line)))
	fmt.Fprintf(&b, "    description: %s\n", yamlQuote(fmt.Sprintf("<filter %s> @type grep", e.arg)))
	b.WriteString("    when:\n")
	b.WriteString(when.String())
	return b.String()
}

// block writes "op:" and the list of leaves, each line indented by ind.
func block(ind, op string, xs []expr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s:\n", ind, op)
	for _, x := range xs {
		fmt.Fprintf(&b, "%s  - {key: %s, regex: %s}  # line %d\n", ind, yamlQuote(x.key), yamlQuote(x.pattern), x.line)
	}
	return b.String()
}

// section reads a <regexp> or <exclude>: key and pattern, both required;
// the pattern in fluentd's :regexp type (/re/flags or a bare regex).
func (im *importer) section(c *element) (expr, bool) {
	for _, sub := range c.elems {
		im.errorf(sub.line, "<%s> is not allowed in <%s>", sub.name, c.name)
	}
	key, hasKey := c.get("key")
	pat, hasPat := c.get("pattern")
	for _, p := range c.params {
		if p.key != "key" && p.key != "pattern" {
			im.warnf(p.line, "fluentd ignores parameter %q in <%s>: not imported", p.key, c.name)
		}
	}
	if !hasKey {
		im.errorf(c.line, "<%s> needs key (fluentd: 'key' parameter is required)", c.name)
	}
	if !hasPat {
		im.errorf(c.line, "<%s> needs pattern (fluentd: 'pattern' parameter is required)", c.name)
	}
	if !hasKey || !hasPat {
		return expr{}, false
	}
	src, err := regexpValue(pat.value)
	if err != nil {
		im.errorf(pat.line, "%v", err)
		return expr{}, false
	}
	x := expr{key: key.value, pattern: src, line: pat.line, keyLine: key.line}
	if !im.checkExpr(x) {
		return expr{}, false
	}
	return x, true
}

// regexpValue is fluentd's Config.regexp_value: a value starting with '/'
// is /pattern/ followed by at most two option letters, of which i and m
// count (Ruby's m is dot-matches-newline); anything else is the pattern.
// The options are written back as an inline group, which Ruby reads the
// same way.
func regexpValue(v string) (string, error) {
	if !strings.HasPrefix(v, "/") {
		return v, nil
	}
	r := strings.LastIndexByte(v, '/')
	if r < len(v)-3 {
		return "", fmt.Errorf("invalid regexp: missing right slash: %s (fluentd refuses it)", v)
	}
	opts := v[r+1:]
	pat := ""
	if r > 0 {
		pat = v[1:r]
	}
	flags := ""
	if strings.Contains(opts, "i") {
		flags += "i"
	}
	if strings.Contains(opts, "m") {
		flags += "m"
	}
	if flags != "" {
		pat = "(?" + flags + ")" + pat
	}
	return pat, nil
}

// checkExpr verifies the key parses as a record_accessor and the pattern
// can run with Ruby's meaning.
func (im *importer) checkExpr(x expr) bool {
	ok := true
	if _, err := ruby.ParseAccessor(x.key); err != nil {
		im.errorf(x.keyLine, "key %q: %v", x.key, err)
		ok = false
	}
	if _, err := ruby.Compile(x.pattern); err != nil {
		im.errorf(x.line, "pattern %s cannot be imported: %v", quote.Cut(x.pattern), err)
		ok = false
	}
	return ok
}

var nameChars = regexp.MustCompile(`[^A-Za-z0-9_.:-]+`)

func sanitizeName(s string) string {
	s = strings.Trim(nameChars.ReplaceAllString(s, "-"), "-")
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z' || s[0] >= '0' && s[0] <= '9') {
		s = "fluentd-" + s
	}
	return s
}

// yamlQuote writes s as a YAML double-quoted scalar. Go's strconv.Quote
// escapes (\" \\ \n \t \xNN \uNNNN \UNNNNNNNN) all mean the same in YAML.
func yamlQuote(s string) string {
	return strconv.Quote(s)
}
