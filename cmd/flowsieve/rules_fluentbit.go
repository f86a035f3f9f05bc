package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flowsieve/flowsieve/rules/fluentbit"
)

// rulesImportFluentBit is `flowsieve rules import-fluent-bit`: Fluent Bit
// grep filters (a fluent-bit-filters ConfigMap or key value, classic
// [FILTER] sections, a YAML config) to a rule file, with the lint output
// on stderr.
func rulesImportFluentBit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowsieve rules import-fluent-bit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the rule file here instead of stdout")
	key := fs.String("key", "flow", "the fluent-bit-filters ConfigMap key to import")
	tag := fs.String("tag", "", "the Fluent Bit tag of flow logs, which decides the filters that apply (default: flows for key flow, dns for key dns)")
	skip := fs.Bool("skip-unsupported", false, "import the grep filters and list the other filters instead of failing on them")
	name := fs.String("name", "", "the input's name in rule sources and messages (default: the file's base name, or stdin)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flowsieve rules import-fluent-bit [-o OUT] [--key KEY] [--tag TAG] [--skip-unsupported] FILE|-\n\n"+
			"Turns Fluent Bit grep filters into a rule file whose rules judge records exactly as\n"+
			"Fluent Bit did (compat: fluent-bit). FILE is the fluent-bit-filters ConfigMap as\n"+
			"`kubectl get cm fluent-bit-filters -n tigera-operator -o yaml` prints it, the value of\n"+
			"one of its keys, a classic config with [FILTER] sections, or a YAML config with\n"+
			"pipeline.filters. Warnings about rules that never match or are never evaluated go\n"+
			"to stderr; they do not change what the rules do.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	path := pos[0]
	if err := refuseClobber(nil, []output{{"-o", *out}}, []string{path}); err != nil {
		fmt.Fprintf(stderr, "flowsieve rules import-fluent-bit: %v\n", err)
		return exitUsage
	}
	var data []byte
	src := filepath.Base(path)
	if path == "-" {
		data, err = io.ReadAll(stdin)
		src = "stdin"
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowsieve rules import-fluent-bit: %v\n", err)
		return exitFailure
	}
	if *name != "" {
		src = *name
	}
	res, err := fluentbit.Import(src, data, fluentbit.Options{Key: *key, Tag: *tag, SkipUnsupported: *skip})
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve rules import-fluent-bit: cannot import:")
		for _, e := range unjoin(err) {
			fmt.Fprintln(stderr, e)
		}
		return exitFailure
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "skipped: %s\n", s)
	}
	yml, err := res.RuleFile()
	if err != nil {
		fmt.Fprintf(stderr, "flowsieve rules import-fluent-bit: %v\n", err)
		return exitFailure
	}
	if *out == "" {
		if _, err := stdout.Write(yml); err != nil {
			return exitFailure
		}
	} else if err := os.WriteFile(*out, yml, 0o644); err != nil {
		fmt.Fprintf(stderr, "flowsieve rules import-fluent-bit: %v\n", err)
		return exitFailure
	}
	what := string(res.Form)
	if res.Key != "" {
		what += ", key " + res.Key
	}
	fmt.Fprintf(stderr, "imported %d grep filter(s) as %d rule(s) from %s (%s, tag %s): %d warning(s)\n",
		len(res.Greps), len(res.Rules), src, what, res.Tag, len(res.Warnings))
	return exitOK
}

// unjoin splits an errors.Join into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
