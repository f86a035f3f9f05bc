package fluentbit

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flowsieve/flowsieve/internal/yamlnode"
)

// ParseYAMLConfig reads the `pipeline: filters:` list of a Fluent Bit YAML
// config (fluent-bit.yaml). Fluent Bit reads scalars as their raw text (no
// YAML typing: `active: no` is the string "no"), translates keys the way
// flb_cf_key_translate does (a key starting with a lowercase letter and
// holding no underscore goes from camelCase to snake_case), trims scalar
// values, and turns a list value into one property per element. A map as a
// value, a nested list and an empty list are configuration errors.
func ParseYAMLConfig(file string, data []byte) ([]Filter, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	root := yamlnode.Document(&doc)
	if root == nil {
		return nil, errorf(Pos{file, doc.Line}, "a Fluent Bit YAML config is a mapping")
	}
	if inc, k := yamlnode.Lookup(root, "includes"); inc != nil {
		return nil, errorf(Pos{file, k.Line}, "includes: included files are not followed (filters they hold would be missed); inline them, or import each file on its own")
	}
	pipeline, _ := yamlnode.Lookup(root, "pipeline")
	if pipeline == nil {
		return nil, errorf(Pos{file, root.Line}, "no pipeline section")
	}
	if pipeline.Kind != yaml.MappingNode {
		return nil, errorf(Pos{file, pipeline.Line}, "pipeline is not a mapping")
	}
	list, _ := yamlnode.Lookup(pipeline, "filters")
	if list == nil {
		return nil, nil
	}
	if list.Kind != yaml.SequenceNode {
		return nil, errorf(Pos{file, list.Line}, "pipeline.filters is not a list")
	}
	var filters []Filter
	for i, item := range list.Content {
		pos := Pos{file, item.Line}
		if item.Kind != yaml.MappingNode {
			return nil, errorf(pos, "pipeline.filters entry %d is not a mapping", i+1)
		}
		f := Filter{Pos: pos, Desc: fmt.Sprintf("pipeline.filters entry %d", i+1)}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], item.Content[j+1]
			if k.Kind != yaml.ScalarNode {
				return nil, errorf(Pos{file, k.Line}, "%s: a key is not a scalar", f.Desc)
			}
			key, ok := trimSpace(translateKey(k.Value))
			if !ok || key == "" {
				return nil, errorf(Pos{file, k.Line}, "%s: invalid key %q", f.Desc, k.Value)
			}
			switch v.Kind {
			case yaml.ScalarNode:
				val, ok := trimSpace(v.Value)
				if !ok {
					return nil, errorf(Pos{file, v.Line}, "%s: %s: invalid value: only spaces", f.Desc, key)
				}
				f.Props = append(f.Props, Prop{Key: key, Value: val, Pos: Pos{file, v.Line}})
			case yaml.SequenceNode:
				if len(v.Content) == 0 {
					return nil, errorf(Pos{file, v.Line}, "%s: could not configure property '%s': the list is empty", f.Desc, key)
				}
				for _, e := range v.Content {
					if e.Kind != yaml.ScalarNode {
						return nil, errorf(Pos{file, e.Line}, "%s: %s: a list element must be a scalar", f.Desc, key)
					}
					f.Props = append(f.Props, Prop{Key: key, Value: e.Value, Pos: Pos{file, e.Line}})
				}
			case yaml.MappingNode:
				return nil, errorf(Pos{file, v.Line}, "%s: could not configure property '%s': a filter property cannot hold a map", f.Desc, key)
			default:
				return nil, errorf(Pos{file, v.Line}, "%s: %s: YAML aliases are not supported", f.Desc, key)
			}
		}
		filters = append(filters, f)
	}
	return filters, nil
}

// translateKey is flb_cf_key_translate for YAML configs.
func translateKey(key string) string {
	if key == "" || !('a' <= key[0] && key[0] <= 'z') {
		return key
	}
	if strings.IndexByte(key, '_') >= 0 {
		return asciiLower(key)
	}
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

func asciiLower(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lower(b[i])
	}
	return string(b)
}
