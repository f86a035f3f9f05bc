package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
)

// masked replaces a set secret in Print's output.
const masked = "********"

// Print writes the effective configuration as YAML, every key included,
// secrets masked.
func (c *Config) Print(w io.Writer) error {
	root := map[string]any{}
	for _, k := range keys {
		var v any
		switch p := k.field(c).(type) {
		case *string:
			v = *p
		case *[]string:
			l := *p
			if l == nil {
				l = []string{}
			}
			v = l
		case *int:
			v = *p
		case *int64:
			v = *p
		case *bool:
			v = *p
		case *time.Duration:
			v = p.String()
		}
		if k.secret && v != "" {
			v = masked
		}
		m := root
		parts := strings.Split(k.name, ".")
		for _, part := range parts[:len(parts)-1] {
			sub, ok := m[part].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[part] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	enc := yamlv3.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("printing config: %w", err)
	}
	return enc.Close()
}

// formatValue renders a field as a flag default.
func formatValue(field any) string {
	switch p := field.(type) {
	case *string:
		return *p
	case *[]string:
		return strings.Join(*p, ",")
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return p.String()
	}
	return ""
}
