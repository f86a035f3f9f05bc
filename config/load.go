package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Sources are the layers Load reads, lowest precedence first. Any of them
// may be empty.
type Sources struct {
	File    string         // YAML file; "" for none
	Environ []string       // "NAME=value" pairs, normally os.Environ()
	Flags   *pflag.FlagSet // parsed, holding the flags RegisterFlags added
}

// RegisterFlags adds one flag per key, named as the key (--kafka.brokers,
// --input.topics, ...). Only flags given on the command line override the
// file and the environment.
func RegisterFlags(fs *pflag.FlagSet) {
	def := Default()
	for _, k := range keys {
		d := ""
		if !k.secret {
			d = formatValue(k.field(&def))
		}
		fs.String(k.name, d, k.usage)
	}
}

// serviceLinkVar matches the variables Kubernetes injects for a Service
// whose name starts with "flowsieve" (flowsieve-metrics ->
// FLOWSIEVE_METRICS_SERVICE_HOST, ..._PORT_9464_TCP_ADDR, ...). They are not
// config keys, and refusing them would stop every pod of a namespace that
// has such a Service unless enableServiceLinks is off. No key ends this way.
var serviceLinkVar = regexp.MustCompile(`^FLOWSIEVE_[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$`)

// Load merges the default config, the file, the environment and the flags,
// then validates the result. Every problem is reported, each naming its key
// (and the file or variable it came from where that helps).
func Load(src Sources) (*Config, error) {
	merged := koanf.New(".")
	var errs []error

	if src.File != "" {
		k := koanf.New(".")
		if err := k.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("reading config file %s: %w", src.File, err)
		}
		errs = append(errs, unknownKeys(k, src.File)...)
		mergeInto(merged, k)
	}

	if len(src.Environ) > 0 {
		k := koanf.New(".")
		var unknown []string
		p := env.Provider(".", env.Opt{
			Prefix:      envPrefix,
			EnvironFunc: func() []string { return src.Environ },
			TransformFunc: func(name, v string) (string, any) {
				key, ok := keysByEnv[name]
				if !ok {
					if !serviceLinkVar.MatchString(name) {
						unknown = append(unknown, name)
					}
					return "", nil
				}
				return key, v
			},
		})
		if err := k.Load(p, nil); err != nil {
			return nil, fmt.Errorf("reading environment: %w", err)
		}
		sort.Strings(unknown)
		for _, name := range unknown {
			errs = append(errs, fmt.Errorf("environment: unknown variable %s (no such config key)", name))
		}
		mergeInto(merged, k)
	}

	if src.Flags != nil {
		k := koanf.New(".")
		p := posflag.ProviderWithFlag(src.Flags, ".", nil, func(f *pflag.Flag) (string, any) {
			if _, ok := keysByName[f.Name]; !ok {
				return "", nil // cmd's own flags (--config, --demo, ...)
			}
			return f.Name, f.Value.String()
		})
		if err := k.Load(p, nil); err != nil {
			return nil, fmt.Errorf("reading flags: %w", err)
		}
		mergeInto(merged, k)
	}

	cfg := Default()
	for _, k := range keys {
		if !merged.Exists(k.name) {
			continue
		}
		if err := assign(k.field(&cfg), merged.Get(k.name)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k.name, err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, cfg.validate()...)
	}
	if len(errs) > 0 {
		return nil, &Error{File: src.File, Errs: errs}
	}
	return &cfg, nil
}

// Error lists every problem found while loading.
type Error struct {
	File string
	Errs []error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration")
	if e.File != "" {
		b.WriteString(" (" + e.File + ")")
	}
	b.WriteString(":")
	for _, err := range e.Errs {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() []error { return e.Errs }

// mergeInto copies src's leaves over dst's, replacing lists rather than
// appending to them.
func mergeInto(dst, src *koanf.Koanf) {
	for _, key := range src.Keys() {
		_ = dst.Set(key, src.Get(key))
	}
}

// unknownKeys reports keys in k that the table does not declare. A section
// left empty (`tls:` with nothing under it) is not an error.
func unknownKeys(k *koanf.Koanf, origin string) []error {
	var errs []error
	for _, name := range k.Keys() {
		if _, ok := keysByName[name]; ok {
			continue
		}
		if isSection(name) {
			v := k.Get(name)
			if m, ok := v.(map[string]any); v == nil || ok && len(m) == 0 {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %s: is a section, not a value", origin, name))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: unknown key %q%s", origin, name, suggest(name)))
	}
	return errs
}

func isSection(name string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k.name, name+".") {
			return true
		}
	}
	return false
}

// suggest names a declared key that differs from name only in its last
// part's spelling closely enough to be a typo, or in its section.
func suggest(name string) string {
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(name, k.name); d < bestD {
			best, bestD = k.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// assign converts a value read from YAML (typed) or from the environment or
// a flag (always a string) to the field's type.
func assign(field, v any) error {
	switch p := field.(type) {
	case *string:
		s, err := scalarString(v)
		if err != nil {
			return err
		}
		*p = s
	case *[]string:
		list, err := stringList(v)
		if err != nil {
			return err
		}
		*p = list
	case *int:
		n, err := integer(v)
		if err != nil {
			return err
		}
		if int64(int(n)) != n {
			return fmt.Errorf("%d is out of range", n)
		}
		*p = int(n)
	case *int64:
		n, err := integer(v)
		if err != nil {
			return err
		}
		*p = n
	case *bool:
		switch b := v.(type) {
		case bool:
			*p = b
		case string:
			x, err := strconv.ParseBool(strings.TrimSpace(b))
			if err != nil {
				return fmt.Errorf("%q is not a boolean (true or false)", b)
			}
			*p = x
		case nil:
			*p = false
		default:
			return fmt.Errorf("%v is not a boolean (true or false)", v)
		}
	case *time.Duration:
		switch d := v.(type) {
		case string:
			x, err := time.ParseDuration(strings.TrimSpace(d))
			if err != nil {
				return fmt.Errorf("%q is not a duration (like 250ms, 10s, 24h)", d)
			}
			*p = x
		case int:
			if d != 0 {
				return fmt.Errorf("%d is not a duration: give a unit (like 10s)", d)
			}
			*p = 0
		case nil:
			*p = 0
		default:
			return fmt.Errorf("%v is not a duration (like 250ms, 10s, 24h)", v)
		}
	default:
		return fmt.Errorf("unsupported field type %T", field)
	}
	return nil
}

func scalarString(v any) (string, error) {
	switch s := v.(type) {
	case string:
		return s, nil
	case nil:
		return "", nil
	case int, int64, float64, bool:
		return fmt.Sprint(s), nil
	default:
		return "", fmt.Errorf("must be a single value, not %s", describe(v))
	}
}

func stringList(v any) ([]string, error) {
	switch l := v.(type) {
	case nil:
		return nil, nil
	case string:
		var out []string
		for _, s := range strings.Split(l, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("item %d: must be a string, not %s", i, describe(e))
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("must be a list of strings, not %s", describe(v))
	}
}

func integer(v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case uint64:
		if n > 1<<63-1 {
			return 0, fmt.Errorf("%d is out of range", n)
		}
		return int64(n), nil
	case float64:
		if n != float64(int64(n)) {
			return 0, fmt.Errorf("%v is not an integer", n)
		}
		return int64(n), nil
	case string:
		s := strings.TrimSpace(n)
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if m, ok := parseSize(s); ok {
				return m, nil
			}
			return 0, fmt.Errorf("%q is not an integer", n)
		}
		return x, nil
	default:
		return 0, fmt.Errorf("must be an integer, not %s", describe(v))
	}
}

// parseSize accepts 16MiB, 1GiB, 512KiB for byte counts.
func parseSize(s string) (int64, bool) {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 || n > (1<<62)/u.mult {
				return 0, false
			}
			return n * u.mult, true
		}
	}
	return 0, false
}

func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "empty"
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}

// LoadFromOS is Load with the process environment.
func LoadFromOS(file string, flags *pflag.FlagSet) (*Config, error) {
	return Load(Sources{File: file, Environ: os.Environ(), Flags: flags})
}

var errNoValue = errors.New("must not be empty")
