// Package yamlnode reads single values out of yaml.v3 nodes for the
// decoders that keep node positions (the rule file, GlobalThreatFeed
// manifests): each says what is wrong in the same words, and the caller
// reports it at the node's line and column.
package yamlnode

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/flowsieve/flowsieve/internal/quote"
)

// Kind describes n for a message "must be X, not KIND": the kind of a
// collection, "empty", or the value quoted and cut short (a long value is
// not worth repeating, and may be a secret).
func Kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "empty"
	}
	return quote.Cut(n.Value)
}

// Scalar returns n's value, or why n (named what in the message) is not a
// single value.
func Scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", fmt.Errorf("%s must be a single value, not %s", what, Kind(n))
	}
	return n.Value, nil
}

// Bool returns n's value as true or false, or why it is neither.
func Bool(n *yaml.Node, what string) (bool, error) {
	v, err := Scalar(n, what)
	if err != nil {
		return false, err
	}
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s must be true or false, not %s", what, quote.Cut(v))
}

// Document returns the mapping at the top of a parsed document (or doc
// itself when it is already a mapping), or nil when there is none.
func Document(doc *yaml.Node) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

// Lookup returns the value node of key in mapping m (an alias resolved to
// what it names) and the key node, or nils when m has no such key.
func Lookup(m *yaml.Node, key string) (value, keyNode *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v, m.Content[i]
		}
	}
	return nil, nil
}
