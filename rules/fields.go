package rules

import (
	"fmt"
	"strings"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/ruby"
)

// ParseFields compiles a field list (the config's output.fields, filter's
// --fields) into a codec.Projection. Every entry is a Calico field name,
// or flowsieve_sample_rate, or a key in the rule file's key syntax for
// any other member and for members nested in objects ($.kubernetes.pod,
// $['kubernetes']['pod']). Entries with a leading '-' name members to
// remove; the others, members to keep; one list cannot mix the two. A
// bare name that is not a Calico field is an error, so that a misspelt
// field does not silently empty every record.
func ParseFields(list []string) (*codec.Projection, error) {
	var paths [][]string
	exclude := false
	for i, e := range list {
		e = strings.TrimSpace(e)
		minus := strings.HasPrefix(e, "-")
		if i == 0 {
			exclude = minus
		} else if minus != exclude {
			return nil, fmt.Errorf("fields: %q: a list either keeps fields or removes them (-name), not both", e)
		}
		name := strings.TrimSpace(strings.TrimPrefix(e, "-"))
		if name == "" {
			return nil, fmt.Errorf("fields: entry %d is empty", i+1)
		}
		if !strings.HasPrefix(name, "$") {
			if _, ok := codec.FieldByName(name); !ok && name != codec.SampleRateMember {
				return nil, fmt.Errorf("fields: unknown field %q (for a member that is not a Calico field, write $.%s or $['%s'])", name, name, name)
			}
			paths = append(paths, []string{name})
			continue
		}
		steps, err := ruby.ParseAccessor(name)
		if err != nil {
			return nil, fmt.Errorf("fields: %q: %v", name, err)
		}
		path := make([]string, 0, len(steps))
		for _, s := range steps {
			if s.IsIndex {
				return nil, fmt.Errorf("fields: %q: an array index selects no member; name object members only", name)
			}
			path = append(path, s.Key)
		}
		paths = append(paths, path)
	}
	p, err := codec.NewProjection(exclude, paths)
	if err != nil {
		return nil, fmt.Errorf("fields: %w", err)
	}
	return p, nil
}
