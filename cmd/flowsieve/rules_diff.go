package main

import (
	"context"
	"fmt"
	"io"

	"github.com/flowsieve/flowsieve/rules"
)

const rulesDiffUsage = `usage: flowsieve rules diff OLD NEW

Compares two rule files by what they decide: filters, threat rules and feeds
added, removed and changed (by name, with the changed conditions shown).
Comments, layout and key order do not count. Exit 0 when the same, 1 when
different, 2 on error, like diff.
`

// rulesDiff prints the semantic diff of two rule files. Both must load:
// a file that does not is an error (exit 2), as diff treats a missing file.
func rulesDiff(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, rulesDiffUsage)
		return exitOK
	}
	if len(args) != 2 {
		fmt.Fprint(stderr, rulesDiffUsage)
		return exitUsage
	}
	var sets [2]*rules.Set
	for i, path := range args {
		s, err := rules.LoadFileContext(ctx, path)
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "flowsieve rules diff: %v\n", context.Cause(ctx))
			return interruptedCode(ctx)
		}
		if err != nil {
			fmt.Fprintf(stderr, "flowsieve rules diff: %s does not load:\n", path)
			for _, e := range rules.Errors(err) {
				fmt.Fprintln(stderr, e)
			}
			return exitUsage
		}
		sets[i] = s
	}
	d := rules.DiffSets(sets[0], sets[1])
	fmt.Fprintf(stdout, "--- %s (version %s)\n+++ %s (version %s)\n", args[0], sets[0].Version(), args[1], sets[1].Version())
	writeDiff(stdout, &d)
	if d.Same() {
		return exitOK
	}
	return exitFailure
}

// writeDiff writes d for a reader: one line per rule or feed, "+" added,
// "-" removed, "~" changed with its changed fields beneath, then the
// summary.
func writeDiff(w io.Writer, d *rules.Diff) {
	rulesPart := func(title string, cs []rules.RuleChange) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		for _, c := range cs {
			fmt.Fprintf(w, "  %s %s\n", c.Kind.Mark(), c.Name)
			for _, f := range c.Fields {
				fmt.Fprintf(w, "      %s: %s\n      %*s  -> %s\n", f.Field, orNone(f.Old), len(f.Field), "", orNone(f.New))
			}
		}
	}
	rulesPart("filters", d.Filters)
	rulesPart("threat rules", d.Threats)
	if len(d.Feeds) > 0 {
		fmt.Fprintln(w, "feeds:")
		for _, f := range d.Feeds {
			fmt.Fprintf(w, "  %s %s (%d entries added, %d removed)\n", f.Kind.Mark(), f.Name, f.Added, f.Removed)
		}
	}
	fmt.Fprintln(w, d.Summary())
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
