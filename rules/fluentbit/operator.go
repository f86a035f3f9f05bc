package fluentbit

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"go.yaml.in/yaml/v3"
	k8syaml "sigs.k8s.io/yaml"
)

// OperatorKeys are the fluent-bit-filters ConfigMap keys the operator reads,
// with the tag it scopes a filter to when the filter names none.
var OperatorKeys = map[string]string{"flow": "flows", "dns": "dns"}

// Skip says why the operator ignores a whole ConfigMap key.
type Skip struct {
	Pos    Pos
	Key    string
	Reason string
}

// ParseOperatorList reads the value of one fluent-bit-filters key the way
// tigera/operator renders it into fluent-bit.yaml, then the way Fluent Bit
// reads that. The operator unmarshals the value with sigs.k8s.io/yaml into
// []map[string]interface{} (so YAML 1.1 typing applies: `active: no` is the
// boolean false, and of two equal keys the last wins), adds `match: TAG` to
// a map that has neither `match` nor `match_regex` (spelled exactly so),
// and renders each map with encoding/json, which sorts the keys: every
// `Exclude` comes before every `Regex`, every `exclude` before every
// `regex`, whatever order the user wrote. Fluent Bit then reads the JSON as
// YAML: scalars by their JSON text, a list as one property per element.
//
// Content that does not unmarshal as a list of maps is skipped whole by the
// operator (it logs and raises a warning); ParseOperatorList reports that
// as a Skip, not an error. line maps a line of text to a position in the
// user's file.
func ParseOperatorList(text, key, tag string, line func(int) Pos) ([]Filter, *Skip, error) {
	var maps []map[string]any
	if err := k8syaml.Unmarshal([]byte(text), &maps); err != nil {
		return nil, &Skip{Pos: line(1), Key: key, Reason: "not a YAML list of Fluent Bit filter maps: " + err.Error()}, nil
	}
	nodes := listNodes(text)
	var filters []Filter
	for i, m := range maps {
		node := nodeAt(nodes, i)
		pos := line(1)
		if node != nil {
			pos = line(node.Line)
		}
		f := Filter{Pos: pos, Desc: fmt.Sprintf("filter %d of key %s", i+1, key)}
		if m == nil {
			// addUserFilters assigns into the map: a null entry panics the
			// operator's render, so no config comes out of this at all.
			return nil, nil, errorf(pos, "%s is null: the operator cannot render it", f.Desc)
		}
		_, hasMatch := m["match"]
		_, hasRegex := m["match_regex"]
		if !hasMatch && !hasRegex {
			m["match"] = tag
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys) // encoding/json's order for map keys
		for _, k := range keys {
			kpos, elems := keyPositions(node, k, line, pos)
			origin := ""
			if k == "match" && !hasMatch && !hasRegex {
				origin = "added by the operator: the map names neither match nor match_regex"
				kpos = pos
			}
			fk, ok := trimSpace(translateKey(k))
			if !ok || fk == "" {
				return nil, nil, errorf(kpos, "%s: invalid key %q", f.Desc, k)
			}
			switch v := m[k].(type) {
			case []any:
				if len(v) == 0 {
					return nil, nil, errorf(kpos, "%s: could not configure property '%s': the list is empty", f.Desc, fk)
				}
				for j, e := range v {
					s, ok := jsonScalar(e)
					if !ok {
						return nil, nil, errorf(kpos, "%s: %s: a list element must be a scalar", f.Desc, fk)
					}
					epos := kpos
					if j < len(elems) {
						epos = elems[j]
					}
					f.Props = append(f.Props, Prop{Key: fk, Value: s, Pos: epos, Origin: origin})
				}
			case map[string]any:
				return nil, nil, errorf(kpos, "%s: could not configure property '%s': a filter property cannot hold a map", f.Desc, fk)
			default:
				s, _ := jsonScalar(v)
				val, ok := trimSpace(s)
				if !ok {
					return nil, nil, errorf(kpos, "%s: %s: invalid value: only spaces", f.Desc, fk)
				}
				f.Props = append(f.Props, Prop{Key: fk, Value: val, Pos: kpos, Origin: origin})
			}
		}
		filters = append(filters, f)
	}
	return filters, nil, nil
}

// jsonScalar is the text Fluent Bit reads for a value the operator wrote as
// JSON: a string round-tripped through encoding/json (invalid UTF-8 becomes
// U+FFFD), a number as encoding/json prints a float64, true, false, null.
func jsonScalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		b, _ := json.Marshal(v)
		var s string
		_ = json.Unmarshal(b, &s)
		return s, true
	case float64:
		b, err := json.Marshal(v)
		if err != nil {
			return strconv.FormatFloat(v, 'g', -1, 64), true
		}
		return string(b), true
	case bool:
		return strconv.FormatBool(v), true
	case nil:
		return "null", true
	}
	return "", false
}

// DuplicateKeys lists, for every map of a fluent-bit-filters value, the keys
// written more than once: the operator keeps only the last one, silently.
func DuplicateKeys(text string, line func(int) Pos) []Dup {
	var out []Dup
	for i, n := range listNodes(text) {
		last := map[string]*yaml.Node{}
		if n.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k := n.Content[j]
			if prev, ok := last[k.Value]; ok {
				out = append(out, Dup{Entry: i + 1, Key: k.Value, Lost: line(prev.Line), Kept: line(k.Line)})
			}
			last[k.Value] = k
		}
	}
	return out
}

// Dup is a key written twice in one filter map.
type Dup struct {
	Entry      int
	Key        string
	Lost, Kept Pos
}

// listNodes parses text with yaml.v3 only to find positions; the meaning
// comes from sigs.k8s.io/yaml, as in the operator.
func listNodes(text string) []*yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal([]byte(text), &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	seq := doc.Content[0]
	if seq.Kind != yaml.SequenceNode {
		return nil
	}
	return seq.Content
}

func nodeAt(nodes []*yaml.Node, i int) *yaml.Node {
	if i < len(nodes) {
		return nodes[i]
	}
	return nil
}

// keyPositions finds where key k of a filter map was written: the last
// occurrence (the one the operator keeps), and the position of each element
// when the value is a list.
func keyPositions(m *yaml.Node, k string, line func(int) Pos, dflt Pos) (Pos, []Pos) {
	if m == nil || m.Kind != yaml.MappingNode {
		return dflt, nil
	}
	for j := len(m.Content) - 2; j >= 0; j -= 2 {
		if m.Content[j].Value != k {
			continue
		}
		v := m.Content[j+1]
		var elems []Pos
		if v.Kind == yaml.SequenceNode {
			for _, e := range v.Content {
				elems = append(elems, line(e.Line))
			}
		}
		return line(m.Content[j].Line), elems
	}
	return dflt, nil
}
