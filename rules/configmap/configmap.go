// Package configmap reads Kubernetes ConfigMap manifests as `kubectl get cm
// NAME -o yaml` (or -o json) prints them, keeping, for every data key, where
// its value starts in the manifest. Calico users bring their log filters in
// such manifests (fluentd-filters, fluent-bit-filters), and an importer that
// names "line 14 of fluent-bit-filters.yaml" must map a line inside a data
// value back to the manifest.
package configmap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flowsieve/flowsieve/internal/yamlnode"
)

// ConfigMap is one ConfigMap of a manifest.
type ConfigMap struct {
	Name, Namespace string
	Line            int     // where the object starts in the manifest
	Data            []Entry // in manifest order
}

// Entry is one key of a ConfigMap's data.
type Entry struct {
	Key     string
	Value   string
	KeyLine int // the manifest line of the key
	// FirstLine is the manifest line holding the first line of Value when
	// the value is a block literal (`key: |`), whose lines map one to one
	// onto manifest lines; 0 when they do not (quoted or folded scalars),
	// and then KeyLine is the best position there is.
	FirstLine int
}

// Line maps line n (1-based) of the entry's value to a manifest line.
func (e Entry) Line(n int) int {
	if e.FirstLine == 0 || n < 1 {
		return e.KeyLine
	}
	return e.FirstLine + n - 1
}

// Get returns the entry for key.
func (c *ConfigMap) Get(key string) (Entry, bool) {
	for _, e := range c.Data {
		if e.Key == key {
			return e, true
		}
	}
	return Entry{}, false
}

// Keys lists the data keys in manifest order.
func (c *ConfigMap) Keys() []string {
	keys := make([]string, len(c.Data))
	for i, e := range c.Data {
		keys[i] = e.Key
	}
	return keys
}

// ErrNotManifest is returned (wrapped) by Parse when the input is YAML but
// not a ConfigMap or a List of them, so callers can try another format.
var ErrNotManifest = errors.New("not a ConfigMap manifest")

// Looks reports whether data looks like a Kubernetes manifest (a mapping
// with apiVersion and kind), without judging whether it is a valid
// ConfigMap. Importers use it to pick a format.
func Looks(data []byte) bool {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return false
	}
	m := yamlnode.Document(&doc)
	if m == nil {
		return false
	}
	kind, _ := yamlnode.Lookup(m, "kind")
	api, _ := yamlnode.Lookup(m, "apiVersion")
	return kind != nil && api != nil
}

// Parse reads every ConfigMap of a manifest: a single ConfigMap, a List
// (kubectl prints one for several names), or several YAML documents.
func Parse(data []byte) ([]ConfigMap, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []ConfigMap
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("reading manifest: %w", err)
		}
		m := yamlnode.Document(&doc)
		if m == nil {
			if doc.Kind == yaml.DocumentNode && len(doc.Content) == 0 {
				continue // an empty document between ---
			}
			return nil, fmt.Errorf("line %d: %w: the document is not a mapping", doc.Line, ErrNotManifest)
		}
		cms, err := object(m)
		if err != nil {
			return nil, err
		}
		out = append(out, cms...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no ConfigMap found", ErrNotManifest)
	}
	return out, nil
}

// Find picks the ConfigMap called name from cms; with name empty it picks
// the only one.
func Find(cms []ConfigMap, name string) (*ConfigMap, error) {
	if name == "" {
		if len(cms) == 1 {
			return &cms[0], nil
		}
		names := make([]string, len(cms))
		for i := range cms {
			names[i] = cms[i].Name
		}
		return nil, fmt.Errorf("the manifest holds %d ConfigMaps (%s): name one", len(cms), strings.Join(names, ", "))
	}
	for i := range cms {
		if cms[i].Name == name {
			return &cms[i], nil
		}
	}
	return nil, fmt.Errorf("the manifest has no ConfigMap named %q", name)
}

func object(m *yaml.Node) ([]ConfigMap, error) {
	kind, _ := yamlnode.Lookup(m, "kind")
	if kind == nil || kind.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("line %d: %w: no kind", m.Line, ErrNotManifest)
	}
	switch kind.Value {
	case "ConfigMap":
		cm, err := configMap(m)
		if err != nil {
			return nil, err
		}
		return []ConfigMap{cm}, nil
	case "List", "ConfigMapList":
		items, _ := yamlnode.Lookup(m, "items")
		if items == nil || items.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("line %d: %s without items", kind.Line, kind.Value)
		}
		var out []ConfigMap
		for _, it := range items.Content {
			if it.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: a list item is not an object", it.Line)
			}
			k, _ := yamlnode.Lookup(it, "kind")
			if k != nil && k.Value != "ConfigMap" {
				continue // kubectl get cm,secret ... mixes kinds; only ConfigMaps matter
			}
			cm, err := configMap(it)
			if err != nil {
				return nil, err
			}
			out = append(out, cm)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("line %d: %w: kind is %s", kind.Line, ErrNotManifest, kind.Value)
	}
}

func configMap(m *yaml.Node) (ConfigMap, error) {
	cm := ConfigMap{Line: m.Line}
	if md, _ := yamlnode.Lookup(m, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		if n, _ := yamlnode.Lookup(md, "name"); n != nil {
			cm.Name = n.Value
		}
		if n, _ := yamlnode.Lookup(md, "namespace"); n != nil {
			cm.Namespace = n.Value
		}
	}
	data, _ := yamlnode.Lookup(m, "data")
	if data == nil {
		return cm, nil
	}
	if data.Kind != yaml.MappingNode {
		if data.Tag == "!!null" {
			return cm, nil
		}
		return cm, fmt.Errorf("line %d: ConfigMap %q: data is not a mapping", data.Line, cm.Name)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(data.Content); i += 2 {
		k, v := data.Content[i], data.Content[i+1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if k.Kind != yaml.ScalarNode || v == nil || v.Kind != yaml.ScalarNode {
			return cm, fmt.Errorf("line %d: ConfigMap %q: data values must be strings", k.Line, cm.Name)
		}
		if prev, dup := seen[k.Value]; dup {
			return cm, fmt.Errorf("line %d: ConfigMap %q: data key %q repeats the key of line %d", k.Line, cm.Name, k.Value, prev)
		}
		seen[k.Value] = k.Line
		e := Entry{Key: k.Value, Value: v.Value, KeyLine: k.Line}
		if v.Style&yaml.LiteralStyle != 0 {
			// The node's line is the one holding the `|` indicator; the
			// content begins on the next line and keeps its line breaks.
			e.FirstLine = v.Line + 1
		} else if !strings.Contains(v.Value, "\n") && v.Style&(yaml.FoldedStyle) == 0 {
			e.FirstLine = v.Line // a one-line value sits on its own line
		}
		cm.Data = append(cm.Data, e)
	}
	return cm, nil
}
