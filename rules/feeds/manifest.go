package feeds

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/flowsieve/flowsieve/internal/quote"
	"github.com/flowsieve/flowsieve/internal/yamlnode"
)

// Spec is one GlobalThreatFeed (projectcalico.org/v3) as flowsieve reads
// it: what to pull, how often, and how to read it.
type Spec struct {
	Name        string // metadata.name: the name rules use in in_feed
	File        string // the manifest file
	Line        int    // where the manifest starts
	Content     Content
	Disabled    bool // spec.mode: Disabled; nothing is pulled
	Description string
	Period      time.Duration
	URL         string
	Headers     []Header
	Format      Format
}

// Header is one header sent with each pull: a literal value, or one read
// at each pull from a Secret's or ConfigMap's key (see KeyRef).
type Header struct {
	Name  string
	Value string
	From  *KeyRef
}

// KeyRef is a header value's valueFrom: a key of a Secret or ConfigMap.
// flowsieve does not talk to the Kubernetes API: the key is read from a
// file, DIR/NAME/KEY (DIR is feeds.secrets_dir or feeds.configmaps_dir;
// mounting the Secret at DIR/NAME gives exactly that), or else from the
// environment variable FEED_SECRET_NAME_KEY (FEED_CONFIGMAP_... for a
// ConfigMap), upper case, other characters than letters and digits as _.
type KeyRef struct {
	Secret   bool // secretKeyRef; else configMapKeyRef
	Name     string
	Key      string
	Optional bool // a missing value omits the header instead of failing the pull
}

func (k *KeyRef) kind() string {
	if k.Secret {
		return "secret"
	}
	return "configMap"
}

// The GlobalThreatFeed rules Calico applies and flowsieve keeps.
const (
	DefaultPeriod  = 24 * time.Hour
	MinPeriod      = 5 * time.Minute
	maxDescription = 256
)

// The API versions a GlobalThreatFeed comes in: calicoctl and the
// aggregated API print projectcalico.org/v3; the CRD's storage version
// (kubectl get globalthreatfeeds.crd.projectcalico.org) is
// crd.projectcalico.org/v1, with the same spec.
var apiVersions = []string{"projectcalico.org/v3", "crd.projectcalico.org/v1"}

// k8sName is a Kubernetes object name (RFC 1123 subdomain), which
// GlobalThreatFeed names are.
var k8sName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)

type parser struct {
	file string
	errs []error
	name string
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	var b strings.Builder
	b.WriteString(p.file)
	if n != nil {
		fmt.Fprintf(&b, ":%d:%d", n.Line, n.Column)
	}
	b.WriteString(": ")
	if p.name != "" {
		fmt.Fprintf(&b, "globalthreatfeed %q: ", p.name)
	}
	fmt.Fprintf(&b, format, args...)
	p.errs = append(p.errs, errors.New(b.String()))
}

// ParseManifests reads GlobalThreatFeed manifests: one or more YAML
// documents (--- between them), each a GlobalThreatFeed or a List of them
// (kind List or GlobalThreatFeedList, as kubectl get -o yaml prints).
// Every field of the resource is honoured or refused; each problem is an
// error "file:line:col: globalthreatfeed "name": what". status (written
// by Calico's controller), feedType and globalNetworkSet (which only
// Calico's controller acts on) are read and ignored, as is metadata other
// than the name.
func ParseManifests(data []byte, file string) ([]*Spec, error) {
	p := &parser{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var specs []*Spec
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: ")))
			break
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue
		}
		specs = append(specs, p.object(doc.Content[0], true)...)
	}
	if len(specs) == 0 && len(p.errs) == 0 {
		p.errorf(nil, "no GlobalThreatFeed in the file")
	}
	seen := map[string]*Spec{}
	for _, s := range specs {
		if prev := seen[s.Name]; prev != nil {
			p.name = s.Name
			p.errs = append(p.errs, fmt.Errorf("%s:%d: globalthreatfeed %q: a second feed of that name (first on line %d)", file, s.Line, s.Name, prev.Line))
			continue
		}
		seen[s.Name] = s
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return specs, nil
}

// fields checks that n is a mapping with only the allowed keys (others
// listed in ignore pass unread) and returns its values by key.
func (p *parser) fields(n *yaml.Node, what string, allowed []string, ignore ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping, not %s", what, kind(n))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case contains(ignore, k.Value):
		case !contains(allowed, k.Value):
			p.errorf(k, "unknown field %q in %s (want %s)", k.Value, what, strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			p.errorf(k, "duplicate field %q in %s", k.Value, what)
		default:
			out[k.Value] = v
		}
	}
	return out
}

func kind(n *yaml.Node) string { return yamlnode.Kind(n) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	v, err := yamlnode.Scalar(n, what)
	if err != nil {
		p.errorf(n, "%v", err)
		return "", false
	}
	return v, true
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	v, err := yamlnode.Bool(n, what)
	if err != nil {
		p.errorf(n, "%v", err)
		return false, false
	}
	return v, true
}

func (p *parser) oneOf(n *yaml.Node, what string, values ...string) (string, bool) {
	v, ok := p.str(n, what)
	if !ok {
		return "", false
	}
	if !contains(values, v) {
		p.errorf(n, "%s %s is not one of %s", what, quote.Cut(v), strings.Join(values, ", "))
		return "", false
	}
	return v, true
}

// object reads a GlobalThreatFeed, or (top) a List of them.
func (p *parser) object(n *yaml.Node, top bool) []*Spec {
	p.name = ""
	f := p.fields(n, "the object", []string{"apiVersion", "kind", "metadata", "spec", "status", "items"})
	if f == nil {
		return nil
	}
	k := ""
	if f["kind"] == nil {
		p.errorf(n, "missing kind (want GlobalThreatFeed, or a List of them)")
		return nil
	}
	if k, _ = p.str(f["kind"], "kind"); k == "" {
		return nil
	}
	if top && (k == "List" || k == "GlobalThreatFeedList") {
		if f["items"] == nil || f["items"].Kind != yaml.SequenceNode {
			p.errorf(f["kind"], "a %s needs items (a list)", k)
			return nil
		}
		var out []*Spec
		for _, it := range f["items"].Content {
			out = append(out, p.object(it, false)...)
		}
		return out
	}
	if k != "GlobalThreatFeed" {
		p.errorf(f["kind"], "kind %s is not GlobalThreatFeed (a rule file's globalthreatfeeds entry names a file of GlobalThreatFeed manifests)", quote.Cut(k))
		return nil
	}
	if f["items"] != nil {
		p.errorf(f["items"], "unknown field \"items\" in a GlobalThreatFeed")
	}
	if f["apiVersion"] == nil {
		p.errorf(n, "missing apiVersion (want projectcalico.org/v3)")
	} else {
		p.oneOf(f["apiVersion"], "apiVersion", apiVersions...)
	}
	s := &Spec{File: p.file, Line: n.Line, Period: DefaultPeriod}
	if f["metadata"] == nil {
		p.errorf(n, "missing metadata.name")
		return nil
	}
	// Only the name means anything here; the rest of ObjectMeta (labels,
	// annotations, uid, resourceVersion, managedFields...) is kubectl's.
	if f["metadata"].Kind != yaml.MappingNode {
		p.errorf(f["metadata"], "metadata must be a mapping, not %s", kind(f["metadata"]))
		return nil
	}
	var nameNode *yaml.Node
	for i := 0; i+1 < len(f["metadata"].Content); i += 2 {
		if f["metadata"].Content[i].Value == "name" {
			nameNode = f["metadata"].Content[i+1]
		}
	}
	if nameNode == nil {
		p.errorf(f["metadata"], "missing metadata.name")
		return nil
	}
	name, ok := p.str(nameNode, "metadata.name")
	if !ok {
		return nil
	}
	if !k8sName.MatchString(name) {
		p.errorf(nameNode, "metadata.name %s: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", quote.Cut(name))
		return nil
	}
	s.Name = name
	p.name = name
	if f["spec"] == nil {
		p.errorf(n, "missing spec")
		return nil
	}
	before := len(p.errs)
	p.spec(f["spec"], s)
	if len(p.errs) > before {
		return nil
	}
	return []*Spec{s}
}

func (p *parser) spec(n *yaml.Node, s *Spec) {
	f := p.fields(n, "spec", []string{"content", "mode", "description", "feedType", "globalNetworkSet", "pull"})
	if f == nil {
		return
	}
	if f["content"] != nil {
		if v, ok := p.oneOf(f["content"], "spec.content", "IPSet", "DomainNameSet"); ok && v == "DomainNameSet" {
			s.Content = DomainNameSet
		}
	}
	if f["mode"] != nil {
		if v, ok := p.oneOf(f["mode"], "spec.mode", "Enabled", "Disabled"); ok {
			s.Disabled = v == "Disabled"
		}
	}
	if f["description"] != nil {
		if v, ok := p.str(f["description"], "spec.description"); ok {
			if utf8.RuneCountInString(v) > maxDescription {
				p.errorf(f["description"], "spec.description is longer than %d characters", maxDescription)
			}
			s.Description = v
		}
	}
	if f["feedType"] != nil {
		p.oneOf(f["feedType"], "spec.feedType", "Builtin", "Custom")
	}
	if g := f["globalNetworkSet"]; g != nil {
		p.fields(g, "spec.globalNetworkSet", []string{"labels"})
		if s.Content == DomainNameSet {
			p.errorf(g, "spec.globalNetworkSet works only for IPSet feeds (as in Calico)")
		}
	}
	if f["pull"] == nil {
		if !s.Disabled {
			p.errorf(n, "missing spec.pull: flowsieve pulls feeds over HTTP; a push feed (written into Elasticsearch) cannot reach it")
		}
		return
	}
	pull := p.fields(f["pull"], "spec.pull", []string{"period", "http"})
	if pull == nil {
		return
	}
	if pull["period"] != nil {
		if v, ok := p.str(pull["period"], "spec.pull.period"); ok {
			d, err := time.ParseDuration(v)
			switch {
			case err != nil:
				p.errorf(pull["period"], "spec.pull.period %s is not a duration (Go form: 30m, 6h, 24h)", quote.Cut(v))
			case d < MinPeriod:
				p.errorf(pull["period"], "spec.pull.period %s is below %s, the shortest Calico accepts", v, MinPeriod)
			default:
				s.Period = d
			}
		}
	}
	if pull["http"] == nil {
		p.errorf(f["pull"], "missing spec.pull.http")
		return
	}
	h := p.fields(pull["http"], "spec.pull.http", []string{"format", "url", "headers"})
	if h == nil {
		return
	}
	if h["url"] == nil {
		p.errorf(pull["http"], "missing spec.pull.http.url")
	} else if v, ok := p.str(h["url"], "spec.pull.http.url"); ok {
		u, err := url.Parse(v)
		switch {
		case err != nil || u.Host == "":
			// Not the URL itself: it may carry a key in its query.
			p.errorf(h["url"], "spec.pull.http.url is not an absolute URL")
		case u.Scheme != "http" && u.Scheme != "https":
			p.errorf(h["url"], "spec.pull.http.url: scheme %s is not http or https", quote.Cut(u.Scheme))
		default:
			s.URL = v
		}
	}
	if h["format"] != nil {
		p.format(h["format"], s)
	}
	if h["headers"] != nil {
		p.headers(h["headers"], s)
	}
}

func (p *parser) format(n *yaml.Node, s *Spec) {
	f := p.fields(n, "spec.pull.http.format", []string{"newlineDelimited", "json", "csv"})
	if f == nil {
		return
	}
	if len(f) > 1 {
		p.errorf(n, "spec.pull.http.format: give one of newlineDelimited, json and csv")
		return
	}
	switch {
	case f["newlineDelimited"] != nil:
		nd := f["newlineDelimited"]
		if nd.Tag != "!!null" {
			p.fields(nd, "spec.pull.http.format.newlineDelimited", nil)
		}
	case f["json"] != nil:
		j := p.fields(f["json"], "spec.pull.http.format.json", []string{"path"})
		if j == nil {
			return
		}
		if j["path"] == nil {
			p.errorf(f["json"], "missing spec.pull.http.format.json.path")
			return
		}
		v, ok := p.str(j["path"], "spec.pull.http.format.json.path")
		if !ok {
			return
		}
		if _, err := ParseJSONPath(v); err != nil {
			p.errorf(j["path"], "spec.pull.http.format.json.path: %v", err)
			return
		}
		s.Format = Format{Kind: JSON, JSONPath: v}
	case f["csv"] != nil:
		p.csv(f["csv"], s)
	}
}

func (p *parser) csv(n *yaml.Node, s *Spec) {
	const at = "spec.pull.http.format.csv"
	f := p.fields(n, at, []string{"fieldNum", "fieldName", "header", "columnDelimiter", "commentDelimiter", "recordSize", "disableRecordSizeValidation"})
	if f == nil {
		return
	}
	c := CSVFormat{FieldNum: -1}
	integer := func(key string, min int) (int, bool) {
		v, ok := p.str(f[key], at+"."+key)
		if !ok {
			return 0, false
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < min {
			p.errorf(f[key], "%s.%s must be a whole number of at least %d, not %s", at, key, min, quote.Cut(v))
			return 0, false
		}
		return i, true
	}
	delim := func(key string) (rune, bool) {
		v, ok := p.str(f[key], at+"."+key)
		if !ok {
			return 0, false
		}
		r, size := utf8.DecodeRuneInString(v)
		if size != len(v) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' {
			p.errorf(f[key], "%s.%s must be one character, not a quote or a line break", at, key)
			return 0, false
		}
		return r, true
	}
	ok := true
	if f["fieldNum"] != nil {
		c.FieldNum, ok = integer("fieldNum", 0)
	}
	if f["fieldName"] != nil {
		c.FieldName, _ = p.str(f["fieldName"], at+".fieldName")
	}
	if f["header"] != nil {
		c.Header, _ = p.boolean(f["header"], at+".header")
	}
	switch {
	case f["fieldNum"] != nil && f["fieldName"] != nil:
		p.errorf(n, "%s: fieldNum and fieldName exclude each other", at)
	case f["fieldNum"] == nil && f["fieldName"] == nil:
		p.errorf(n, "%s: give fieldNum (the column, from 0) or fieldName (with header: true)", at)
	case f["fieldName"] != nil && !c.Header:
		p.errorf(f["fieldName"], "%s.fieldName needs header: true", at)
	}
	if f["columnDelimiter"] != nil {
		c.Comma, _ = delim("columnDelimiter")
	}
	if f["commentDelimiter"] != nil {
		c.Comment, _ = delim("commentDelimiter")
		comma := c.Comma
		if comma == 0 {
			comma = ','
		}
		if c.Comment == comma {
			p.errorf(f["commentDelimiter"], "%s: commentDelimiter and columnDelimiter must differ", at)
		}
	}
	if f["recordSize"] != nil {
		c.RecordSize, _ = integer("recordSize", 1)
	}
	if f["disableRecordSizeValidation"] != nil {
		c.NoSizeCheck, _ = p.boolean(f["disableRecordSizeValidation"], at+".disableRecordSizeValidation")
		if c.NoSizeCheck && f["recordSize"] != nil {
			p.errorf(f["disableRecordSizeValidation"], "%s: disableRecordSizeValidation and recordSize exclude each other", at)
		}
	}
	if ok {
		s.Format = Format{Kind: CSV, CSV: c}
	}
}

func (p *parser) headers(n *yaml.Node, s *Spec) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "spec.pull.http.headers must be a list, not %s", kind(n))
		return
	}
	for _, item := range n.Content {
		f := p.fields(item, "a header", []string{"name", "value", "valueFrom"})
		if f == nil {
			continue
		}
		var h Header
		if f["name"] == nil {
			p.errorf(item, "a header without a name")
			continue
		}
		h.Name, _ = p.str(f["name"], "header name")
		if !validHeaderName(h.Name) {
			p.errorf(f["name"], "header name %s is not a valid HTTP header name", quote.Cut(h.Name))
			continue
		}
		switch {
		case f["value"] != nil && f["valueFrom"] != nil:
			p.errorf(item, "header %s: give value or valueFrom, not both", h.Name)
			continue
		case f["value"] != nil:
			// Never echoed: a literal value may be a key pasted in.
			if f["value"].Kind != yaml.ScalarNode {
				p.errorf(f["value"], "header %s: value must be a single value", h.Name)
				continue
			}
			h.Value = f["value"].Value
			if strings.ContainsAny(h.Value, "\r\n\x00") {
				p.errorf(f["value"], "header %s: value holds a line break or NUL", h.Name)
				continue
			}
		case f["valueFrom"] != nil:
			h.From = p.keyRef(f["valueFrom"], h.Name)
			if h.From == nil {
				continue
			}
		default:
			p.errorf(item, "header %s: give value or valueFrom", h.Name)
			continue
		}
		s.Headers = append(s.Headers, h)
	}
}

func (p *parser) keyRef(n *yaml.Node, header string) *KeyRef {
	f := p.fields(n, "valueFrom of header "+header, []string{"secretKeyRef", "configMapKeyRef"})
	if f == nil {
		return nil
	}
	if len(f) != 1 {
		p.errorf(n, "header %s: valueFrom takes one of secretKeyRef and configMapKeyRef", header)
		return nil
	}
	r := &KeyRef{Secret: f["secretKeyRef"] != nil}
	ref := f["secretKeyRef"]
	if ref == nil {
		ref = f["configMapKeyRef"]
	}
	what := "valueFrom." + r.kind() + "KeyRef of header " + header
	g := p.fields(ref, what, []string{"name", "key", "optional"})
	if g == nil {
		return nil
	}
	for _, k := range []string{"name", "key"} {
		if g[k] == nil {
			p.errorf(ref, "%s: missing %s", what, k)
			return nil
		}
	}
	r.Name, _ = p.str(g["name"], what+".name")
	r.Key, _ = p.str(g["key"], what+".key")
	if r.Name == "" || r.Key == "" || strings.ContainsAny(r.Name+r.Key, "/\\") || r.Name == ".." || r.Key == ".." || r.Name == "." || r.Key == "." {
		p.errorf(ref, "%s: name and key must be plain names (no '/', not . or ..)", what)
		return nil
	}
	if g["optional"] != nil {
		r.Optional, _ = p.boolean(g["optional"], what+".optional")
	}
	return r
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
