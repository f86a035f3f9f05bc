package rules

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/yamlnode"
	"github.com/flowsieve/flowsieve/rules/feeds"
)

// The rule file is YAML. It is decoded from yaml.v3's node tree rather than
// through koanf's flattened maps because every error must carry the line
// and column it is about, and unknown keys must be errors (a misspelt
// "exlude" must not silently turn a rule off).

// LoadFile reads, validates and compiles a rule file and the feeds it
// names (paths relative to the rule file's directory). It reports every
// problem it finds, each as "file:line:col: rule "name": what"; Errors
// splits them.
//
// The rule file and the feeds must be regular files (or symlinks to them):
// anything else (a FIFO, a device) is an error rather than a read that may
// never end. LoadFileContext also bounds the time a load may take.
func LoadFile(path string) (*Set, error) {
	s, _, err := loadFileWithin(context.Background(), path, nil, nil)
	return s, err
}

// LoadOptions are what a load needs besides the rule file.
type LoadOptions struct {
	// Feeds pulls the GlobalThreatFeeds the rule file names and keeps
	// their tables. Nil: each load makes its own, without a cache, and
	// pulls every such feed once (rules check, filter).
	Feeds *feeds.Manager
}

// loadFileWithin loads path, and returns the files it read or tried to
// read (so a Watcher watches a feed a failed load names). It stops
// between files and feed lines once ctx ends, and keeps in reading (when
// not nil) the file it is reading, for a timeout's message.
func loadFileWithin(ctx context.Context, path string, reading *atomic.Pointer[string], fm *feeds.Manager) (*Set, []string, error) {
	abs, aerr := filepath.Abs(path)
	if aerr != nil {
		abs = path
	}
	if reading != nil {
		reading.Store(&path)
	}
	data, err := readRegular(path)
	if err != nil {
		return nil, []string{abs}, fmt.Errorf("reading rule file: %w", err)
	}
	l := newLoader(data, path)
	l.ctx, l.reading, l.fm = ctx, reading, fm
	s := l.load(data)
	files := s.files
	if len(l.errs) > 0 {
		return nil, files, joinErrs(l.errs)
	}
	l.finish(s)
	return s, files, nil
}

// Load compiles rule-file content; path names it in errors and anchors
// relative feed paths.
func Load(data []byte, path string) (*Set, error) {
	l := newLoader(data, path)
	s := l.load(data)
	if len(l.errs) > 0 {
		return nil, joinErrs(l.errs)
	}
	l.finish(s)
	return s, nil
}

func newLoader(data []byte, path string) *loader {
	l := &loader{ctx: context.Background(), file: path, dir: filepath.Dir(path), hash: sha256.New(), feedsByName: map[string]*feed{}}
	l.hash.Write(data)
	return l
}

// finish stamps a Set that loaded without errors.
func (l *loader) finish(s *Set) {
	s.version = hex.EncodeToString(l.hash.Sum(nil))[:8]
}

type loader struct {
	ctx         context.Context // a load given up on stops between feeds and feed lines
	reading     *atomic.Pointer[string]
	file, dir   string
	hash        hash.Hash
	errs        []error
	feedsByName map[string]*feed
	feedErr     map[string]bool // feeds that exist but failed to load
	rule        string          // rule being compiled, for messages
	fm          *feeds.Manager  // made on first use when the caller gave none
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	e := &Error{File: l.file, Rule: l.rule, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	l.errs = append(l.errs, e)
}

func (l *loader) load(data []byte) *Set {
	s := &Set{path: l.file}
	abs, err := filepath.Abs(l.file)
	if err != nil {
		abs = l.file
	}
	s.files = append(s.files, abs)
	doc, ok := l.document(data)
	if !ok {
		return s
	}
	if len(doc.Content) == 0 {
		l.errorf(nil, "empty rule file (want feeds, threats and filters)")
		return s
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		// Not its value: a file named as the rule file by mistake may
		// hold a secret.
		what := "a single value"
		if root.Kind == yaml.SequenceNode {
			what = "a list"
		}
		l.errorf(root, "the rule file must be a mapping (feeds, threats, filters), not %s", what)
		return s
	}
	fields := l.mapping(root, "the rule file", "feeds", "threats", "filters")
	if fields == nil {
		return s
	}
	if n := fields["feeds"]; n != nil {
		for _, item := range l.sequence(n, "feeds") {
			l.loadFeed(s, item)
		}
	}
	names := map[string]*yaml.Node{}
	if n := fields["threats"]; n != nil {
		for _, item := range l.sequence(n, "threats") {
			l.loadThreat(s, item, names)
		}
	}
	l.rule = "" // "filters" is no part of the last threat rule
	if n := fields["filters"]; n != nil {
		for _, item := range l.sequence(n, "filters") {
			l.loadFilter(s, item, names)
		}
	}
	return s
}

// document parses the rule file's one YAML document. yaml.Unmarshal reads
// the first document of a stream and ignores the rest, so a second one
// (a "---" line and rules after it) would silently not apply: it is an
// error at its "---" line. Empty documents after the first (a trailing
// "---") are harmless and pass.
func (l *loader) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		l.errs = append(l.errs, yamlError(l.file, err))
		return nil, false
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if err == io.EOF {
			return &doc, true
		}
		if err != nil {
			l.errs = append(l.errs, yamlError(l.file, err))
			return nil, false
		}
		if len(next.Content) > 0 && !(next.Content[0].Kind == yaml.ScalarNode && next.Content[0].Tag == "!!null") {
			l.errorf(&next, "a second YAML document starts here; a rule file is one document (merge the two, or remove the \"---\" line)")
			return nil, false
		}
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(file string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", file, m[1], m[2])
	}
	return fmt.Errorf("%s: %s", file, strings.TrimPrefix(msg, "yaml: "))
}

// mapping checks that n is a mapping with only the allowed keys and returns
// its values by key.
func (l *loader) mapping(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping, not %s", what, nodeKind(n))
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(allowed, k.Value) {
			l.errorf(k, "unknown key %q in %s (want one of %s)", k.Value, what, strings.Join(allowed, ", "))
			continue
		}
		if out[k.Value] != nil {
			l.errorf(k, "duplicate key %q in %s", k.Value, what)
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (l *loader) sequence(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "%s must be a list, not %s", what, nodeKind(n))
		return nil
	}
	return n.Content
}

func (l *loader) scalar(n *yaml.Node, what string) (string, bool) {
	if n == nil {
		return "", false
	}
	v, err := yamlnode.Scalar(n, what)
	if err != nil {
		l.errorf(n, "%v", err)
		return "", false
	}
	return v, true
}

func (l *loader) boolean(n *yaml.Node, what string) (bool, bool) {
	if n == nil {
		return false, false
	}
	v, err := yamlnode.Bool(n, what)
	if err != nil {
		l.errorf(n, "%v", err)
		return false, false
	}
	return v, true
}

func nodeKind(n *yaml.Node) string { return yamlnode.Kind(n) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

func (l *loader) name(fields map[string]*yaml.Node, item *yaml.Node) string {
	n := fields["name"]
	if n == nil {
		l.errorf(item, "missing name")
		return ""
	}
	v, ok := l.scalar(n, "name")
	if !ok {
		return ""
	}
	if !validName.MatchString(v) {
		l.errorf(n, "name %q: use letters, digits and _ . : - (starting with a letter or digit)", v)
	}
	return v
}

func (l *loader) loadFeed(s *Set, item *yaml.Node) {
	l.rule = ""
	f := l.mapping(item, "a feed", "name", "file", "description", "allow_any", "globalthreatfeeds")
	if f == nil {
		return
	}
	if f["globalthreatfeeds"] != nil {
		l.loadManifests(s, item, f)
		return
	}
	name := l.name(f, item)
	if name == "" {
		return
	}
	if l.feedsByName[name] != nil || (l.feedErr != nil && l.feedErr[name]) {
		l.errorf(f["name"], "duplicate feed name %q", name)
		return
	}
	file, ok := l.scalar(f["file"], "file")
	if f["file"] == nil {
		l.errorf(item, "feed %q: missing file", name)
	}
	if !ok {
		return
	}
	allowAny, ok := l.allowAny(f)
	if !ok {
		return
	}
	path := l.feedPath(s, file)
	if l.ctx.Err() != nil {
		l.errorf(f["file"], "feed %q: not read: %v", name, context.Cause(l.ctx))
		return
	}
	if l.reading != nil {
		l.reading.Store(&path)
	}
	fmt.Fprintf(l.hash, "\x00feed %s %s\x00", name, file)
	fd, err := readFeed(l.ctx, name, path, allowAny, l.hash)
	if err != nil {
		if l.feedErr == nil {
			l.feedErr = map[string]bool{}
		}
		l.feedErr[name] = true
		for _, e := range Errors(err) {
			l.errs = append(l.errs, &Error{File: l.file, Line: f["file"].Line, Col: f["file"].Column, Msg: e.Error()})
		}
		return
	}
	l.feedsByName[name] = fd
	s.feeds = append(s.feeds, fd)
}

var severities = []string{"low", "medium", "high", "critical"}

func (l *loader) checkName(name string, n *yaml.Node, names map[string]*yaml.Node) {
	if prev := names[name]; prev != nil {
		l.errorf(n, "duplicate rule name (first used on line %d)", prev.Line)
		return
	}
	names[name] = n
}

func (l *loader) loadThreat(s *Set, item *yaml.Node, names map[string]*yaml.Node) {
	l.rule = ""
	f := l.mapping(item, "a threat rule", "name", "severity", "description", "when")
	if f == nil {
		return
	}
	name := l.name(f, item)
	l.rule = name
	if name != "" {
		l.checkName(name, f["name"], names)
	}
	sev := ""
	if f["severity"] == nil {
		l.errorf(item, "missing severity (one of %s)", strings.Join(severities, ", "))
	} else if v, ok := l.scalar(f["severity"], "severity"); ok {
		if !contains(severities, v) {
			l.errorf(f["severity"], "unknown severity %q (want one of %s)", v, strings.Join(severities, ", "))
		}
		sev = v
	}
	desc := ""
	if f["description"] != nil {
		desc, _ = l.scalar(f["description"], "description")
	}
	if f["when"] == nil {
		l.errorf(item, "missing when (the condition)")
		return
	}
	c := &compiler{l: l, mode: modeNative}
	cond := c.cond(f["when"], true)
	if cond == nil {
		return
	}
	s.threats = append(s.threats, threatRule{reason: desc, cond: cond, fallback: "the condition of " + name + " holds",
		when: canonicalWhen(f["when"]), needs: markBlind(cond), blindOff: blindSpots(s)})
	s.threatInfo = append(s.threatInfo, ThreatRule{Name: name, Severity: sev, Description: desc,
		Source: fmt.Sprintf("%s:%d", filepath.Base(l.file), item.Line)})
}

func (l *loader) loadFilter(s *Set, item *yaml.Node, names map[string]*yaml.Node) {
	l.rule = ""
	f := l.mapping(item, "a filter", "name", "action", "compat", "source", "description", "when",
		"rate", "per", "max_per_sec", "max_keys")
	if f == nil {
		return
	}
	name := l.name(f, item)
	l.rule = name
	if name != "" {
		l.checkName(name, f["name"], names)
	}
	r := filterRule{FilterRule: FilterRule{Name: name, Line: item.Line}}
	if f["action"] == nil {
		l.errorf(item, "missing action (exclude, include, sample or cap)")
	} else if v, ok := l.scalar(f["action"], "action"); ok {
		switch v {
		case "exclude":
			r.Action, r.kind = v, actionExclude
		case "include":
			r.Action, r.kind = v, actionInclude
		case "sample":
			r.Action, r.kind = v, actionSample
		case "cap":
			r.Action, r.kind = v, actionCap
		default:
			l.errorf(f["action"], "unknown action %q (want exclude, include, sample or cap)", v)
		}
	}
	l.sampling(item, f, &r)
	mode := modeNative
	if f["compat"] != nil {
		if v, ok := l.scalar(f["compat"], "compat"); ok {
			switch v {
			case "native":
			case "fluentd":
				mode, r.Compat = modeFluentd, v
			case "fluent-bit":
				mode, r.Compat = modeFluentBit, v
			default:
				l.errorf(f["compat"], "unknown compat %q (want fluentd or fluent-bit, or leave it out)", v)
			}
		}
	}
	r.Source = fmt.Sprintf("%s:%d", filepath.Base(l.file), item.Line)
	if f["source"] != nil {
		if v, ok := l.scalar(f["source"], "source"); ok {
			r.Source = v
		}
	}
	if f["description"] != nil {
		r.Description, _ = l.scalar(f["description"], "description")
	}
	if f["when"] == nil {
		l.errorf(item, "missing when (the condition)")
		return
	}
	c := &compiler{l: l, mode: mode}
	r.cond = c.cond(f["when"], true)
	if r.cond == nil {
		return
	}
	r.when = canonicalWhen(f["when"])
	if r.kind == actionSample || r.kind == actionCap {
		s.sampling = append(s.sampling, len(s.filters))
	}
	s.filters = append(s.filters, r)
	s.filterNames = append(s.filterNames, name)
}

// defaultMaxKeys bounds the keys one cap filter tracks per partition.
const defaultMaxKeys = 100_000

// sampling reads the keys of sample and cap filters (rate; per,
// max_per_sec, max_keys), which no other action takes.
func (l *loader) sampling(item *yaml.Node, f map[string]*yaml.Node, r *filterRule) {
	own := map[string]action{"rate": actionSample, "per": actionCap, "max_per_sec": actionCap, "max_keys": actionCap}
	for _, k := range []string{"rate", "per", "max_per_sec", "max_keys"} {
		if f[k] != nil && r.Action != "" && r.kind != own[k] {
			l.errorf(f[k], "%s applies to action %s only", k, map[action]string{actionSample: "sample", actionCap: "cap"}[own[k]])
		}
	}
	switch {
	case r.Action == "":
		return
	case r.kind == actionSample:
		if f["rate"] == nil {
			l.errorf(item, "missing rate (the share of matching flows kept, e.g. 0.1 for 1 in 10)")
			return
		}
		v, ok := l.scalar(f["rate"], "rate")
		if !ok {
			return
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !validRate(x) {
			l.errorf(f["rate"], "rate %q: want a number above 0 and at most 1 (0.1 keeps 1 in 10)", v)
			return
		}
		r.rate, r.Rate = x, x
	case r.kind == actionCap:
		if f["per"] == nil {
			l.errorf(item, "missing per (the field, or list of fields, whose value is the key)")
		} else {
			items := []*yaml.Node{f["per"]}
			if f["per"].Kind == yaml.SequenceNode {
				items = f["per"].Content
				if len(items) == 0 {
					l.errorf(f["per"], "per list is empty")
				}
			}
			for _, it := range items {
				name, ok := l.scalar(it, "per")
				if !ok {
					continue
				}
				id, known := codec.FieldByName(name)
				if !known {
					l.errorf(it, "unknown field %q in per", name)
					continue
				}
				r.per, r.Per = append(r.per, id), append(r.Per, name)
			}
		}
		if f["max_per_sec"] == nil {
			l.errorf(item, "missing max_per_sec (flows per key and second kept whole)")
		} else if v, ok := l.scalar(f["max_per_sec"], "max_per_sec"); ok {
			x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || !(x >= 1) || math.IsInf(x, 0) {
				l.errorf(f["max_per_sec"], "max_per_sec %q: want a number, at least 1", v)
			}
			r.maxPerSec, r.MaxPerSec = x, x
		}
		r.maxKeys = defaultMaxKeys
		if f["max_keys"] != nil {
			if v, ok := l.scalar(f["max_keys"], "max_keys"); ok {
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil || n < 1 {
					l.errorf(f["max_keys"], "max_keys %q: want a whole number, at least 1", v)
				}
				r.maxKeys = n
			}
		}
		r.MaxKeys = r.maxKeys
	}
}

// allowAny reads a feeds entry's allow_any (default false).
func (l *loader) allowAny(f map[string]*yaml.Node) (bool, bool) {
	if f["allow_any"] == nil {
		return false, true
	}
	return l.boolean(f["allow_any"], "allow_any")
}

// feedPath makes a feed or manifest path of the rule file absolute
// (relative ones are relative to the rule file) and lists it among the
// Set's files, for the watcher.
func (l *loader) feedPath(s *Set, file string) string {
	path := file
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.dir, path)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	s.files = append(s.files, path)
	return path
}

// loadManifests loads a feeds entry naming a file of GlobalThreatFeed
// manifests: each becomes a feed named by its metadata.name, its table
// from the feeds.Manager (pulled, cached, or empty while a first pull is
// pending). The manifest file and each table's content hash are part of
// the Set's version, so a pulled update makes a new version.
func (l *loader) loadManifests(s *Set, item *yaml.Node, f map[string]*yaml.Node) {
	for _, k := range []string{"name", "file", "description"} {
		if f[k] != nil {
			l.errorf(f[k], "%s does not go with globalthreatfeeds (each feed's name is its metadata.name)", k)
		}
	}
	file, ok := l.scalar(f["globalthreatfeeds"], "globalthreatfeeds")
	if !ok {
		return
	}
	allowAny, ok := l.allowAny(f)
	if !ok {
		return
	}
	at := f["globalthreatfeeds"]
	path := l.feedPath(s, file)
	if l.reading != nil {
		l.reading.Store(&path)
	}
	wrap := func(err error) {
		for _, e := range Errors(err) {
			l.errs = append(l.errs, &Error{File: l.file, Line: at.Line, Col: at.Column, Msg: e.Error()})
		}
	}
	data, err := readRegular(path)
	if err != nil {
		wrap(fmt.Errorf("globalthreatfeeds: %w", err))
		return
	}
	specs, err := feeds.ParseManifests(data, path)
	if err != nil {
		wrap(err)
		return
	}
	fmt.Fprintf(l.hash, "\x00globalthreatfeeds %s\x00", file)
	l.hash.Write(data)
	if l.fm == nil {
		if l.fm, err = feeds.NewManager(feeds.Options{}); err != nil {
			wrap(err)
			return
		}
	}
	for _, spec := range specs {
		if l.feedsByName[spec.Name] != nil || l.feedErr[spec.Name] {
			l.errorf(at, "duplicate feed name %q (from %s:%d)", spec.Name, filepath.Base(path), spec.Line)
			continue
		}
		if l.ctx.Err() != nil {
			l.errorf(at, "feed %q: not read: %v", spec.Name, context.Cause(l.ctx))
			return
		}
		t, err := l.fm.Table(l.ctx, spec, allowAny)
		if err != nil {
			if l.feedErr == nil {
				l.feedErr = map[string]bool{}
			}
			l.feedErr[spec.Name] = true
			wrap(fmt.Errorf("feed %q (%s:%d): %w", spec.Name, filepath.Base(path), spec.Line, err))
			continue
		}
		fmt.Fprintf(l.hash, "\x00table %s %s\x00", spec.Name, t.Hash)
		fd := pulledFeed(spec, t)
		l.feedsByName[spec.Name] = fd
		s.feeds = append(s.feeds, fd)
		s.pulled = append(s.pulled, spec.Name)
	}
}
