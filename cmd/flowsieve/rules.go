package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
	"github.com/flowsieve/flowsieve/rules/fluentd"
)

const rulesUsageText = `usage: flowsieve rules <command> [flags]

commands:
  check FILE...                      validate rule files and their feeds (exit 0 or 1)
  explain --rules FILE RECORD|-      show how each rule judges one record (or each line of stdin)
  diff OLD NEW                       what changed between two rule files (exit 0 same, 1 different, 2 error)
  import-fluentd [-o OUT] FILE|-     turn fluentd <filter> @type grep sections into a rule file (--tag flows)
  import-fluent-bit [-o OUT] FILE|-  turn Fluent Bit grep filters (fluent-bit-filters ConfigMap, ...) into a rule file
`

func rulesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsageText)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return rulesCheck(ctx, args[1:], stdout, stderr)
	case "explain":
		return rulesExplain(args[1:], stdout, stderr)
	case "diff":
		return rulesDiff(ctx, args[1:], stdout, stderr)
	case "import-fluentd":
		return rulesImportFluentd(args[1:], stdout, stderr)
	case "import-fluent-bit":
		return rulesImportFluentBit(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, rulesUsageText)
		return exitOK
	}
	fmt.Fprintf(stderr, "flowsieve rules: unknown command %q\n\n%s", args[0], rulesUsageText)
	return exitUsage
}

// rulesCheck prints, per file, "Checking FILE" then "SUCCESS: ..." or
// "FAILED:" and every error, as promtool does.
func rulesCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowsieve rules check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: flowsieve rules check FILE...") }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, path := range fs.Args() {
		fmt.Fprintf(stdout, "Checking %s\n", path)
		s, err := rules.LoadFileContext(ctx, path)
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "flowsieve rules check: %v\n", context.Cause(ctx))
			return interruptedCode(ctx)
		}
		if err != nil {
			fmt.Fprintln(stdout, "FAILED:")
			for _, e := range rules.Errors(err) {
				fmt.Fprintln(stdout, e)
			}
			code = exitFailure
			fmt.Fprintln(stdout)
			continue
		}
		entries := 0
		for _, f := range s.Feeds() {
			entries += f.Entries
		}
		fmt.Fprintf(stdout, "SUCCESS: %d filters, %d threat rules, %d feeds (%d entries), version %s\n",
			len(s.FilterNames()), len(s.ThreatRules()), len(s.Feeds()), entries, s.Version())
		for _, f := range s.Feeds() {
			fmt.Fprintf(stdout, "  feed %s\n", describeFeed(f))
		}
		for _, b := range s.BlindSpots() {
			fmt.Fprintf(stdout, "WARNING: threat rule %q needs %s, which Calico leaves empty on flows aggregated at level %s "+
				"(flowLogsFileAggregationKindForAllowed defaults to 2, ...ForDenied to 1): it cannot match on those flows\n",
				b.Rule, b.Field, b.Levels)
		}
		fmt.Fprintln(stdout)
	}
	return code
}

func rulesExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowsieve rules explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rulesPath := fs.String("rules", "", "rule file (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flowsieve rules explain --rules FILE RECORD|-\n\nRECORD is one text or JSON flow-log line; - reads lines from stdin.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *rulesPath == "" || len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	s, err := rules.LoadFile(*rulesPath)
	if err != nil {
		fmt.Fprintf(stderr, "flowsieve rules explain: %s does not load:\n", *rulesPath)
		for _, e := range rules.Errors(err) {
			fmt.Fprintln(stderr, e)
		}
		return exitFailure
	}
	if pos[0] != "-" {
		if explainOne(stdout, s, []byte(pos[0])) != nil {
			return exitFailure
		}
		return exitOK
	}
	// Each line is explained as it is read, and a line over the record
	// size limit is passed over as it streams by: no input, however
	// long, is held in memory.
	code := exitOK
	r := bufio.NewReaderSize(stdin, 1<<16)
	for n := 0; ; {
		line, long, err := readLineCapped(r, codec.DefaultLimits.RecordBytes)
		if long > 0 || (len(line) > 0 && !isBlank(line)) {
			if n++; n > 1 {
				fmt.Fprintln(stdout)
			}
			if long > 0 {
				fmt.Fprintf(stdout, "record: INVALID: a line of %d bytes, over the %d-byte record limit (input.max_record_bytes)\n", long, codec.DefaultLimits.RecordBytes)
				code = exitFailure
			} else if explainOne(stdout, s, line) != nil {
				code = exitFailure
			}
		}
		if err == io.EOF {
			return code
		}
		if err != nil {
			fmt.Fprintf(stderr, "flowsieve rules explain: reading stdin: %v\n", err)
			return exitFailure
		}
	}
}

// explainOne prints every rule's result on one record and the decision.
func explainOne(w io.Writer, s *rules.Set, rec []byte) error {
	var f codec.Flow
	if err := codec.Decode(rec, &f); err != nil {
		fmt.Fprintf(w, "record: INVALID: %v\n", err)
		return err
	}
	form := "text"
	if f.Format() == codec.FormatJSON {
		form = "JSON"
	}
	v, threats, filters := s.Explain(&f)
	fmt.Fprintf(w, "record (%s): %s\n", form, truncate(string(rec), 160))
	fmt.Fprintf(w, "rules %s, version %s\n", s.Path(), s.Version())
	tr := s.ThreatRules()
	fmt.Fprintf(w, "threat rules (all run on every flow):\n")
	if len(tr) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	hits := map[int]rules.Hit{}
	for _, h := range v.Threats {
		hits[h.Rule] = h
	}
	for i, t := range tr {
		line := fmt.Sprintf("  %-32s %-9s %-9s %s", t.Name, t.Severity, resultText(threats[i]), t.Source)
		if h, ok := hits[i]; ok {
			line += "  why: " + h.Reason
			if h.Addr.IsValid() {
				line += " (" + h.Addr.String() + ")"
			}
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	fmt.Fprintf(w, "filters (in order; the first that decides drops the flow):\n")
	fl := s.Filters()
	if len(fl) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for i, r := range fl {
		effect := ""
		switch {
		case !v.Keep && i == v.DropRule:
			effect = "<- drops the flow"
		case !v.Keep && i > v.DropRule:
			effect = "(not reached)"
		}
		action := r.Action
		switch r.Action {
		case "sample":
			action += " " + strconv.FormatFloat(r.Rate, 'g', -1, 64)
		case "cap":
			action += fmt.Sprintf(" %g/s per %s", r.MaxPerSec, strings.Join(r.Per, ","))
		}
		if r.Compat != "" {
			action += ", compat " + r.Compat
		}
		for _, smp := range v.Samples {
			if smp.Rule == i && smp.Kept {
				effect += fmt.Sprintf("kept at rate %g (hash of the flow's identifying fields)", smp.Rate)
			}
		}
		if filters[i] == rules.Errored {
			effect += " (evaluating it raised an error in fluentd's terms: fluentd keeps the record)"
		}
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-32s %-24s %-9s %s  %s", r.Name, action, resultText(filters[i]), r.Source, effect), " "))
	}
	switch {
	case v.Keep && v.Rate < 1:
		fmt.Fprintf(w, "decision: KEEP, sampled at rate %g: counters scaled by %g, header flowsieve.sample_rate\n", v.Rate, 1/v.Rate)
	case v.Keep:
		fmt.Fprintln(w, "decision: KEEP")
	default:
		r := fl[v.DropRule]
		why := "it matched"
		switch r.Action {
		case "include":
			why = "it did not match"
		case "sample", "cap":
			why = "it matched and the flow's hash fell outside the sample"
		}
		fmt.Fprintf(w, "decision: DROP by %s (%s; %s; %s)\n", r.Name, r.Action, why, r.Source)
	}
	if v.Flagged() {
		var names []string
		for _, h := range v.Threats {
			names = append(names, tr[h.Rule].Name)
		}
		fmt.Fprintf(w, "flagged: %s\n", strings.Join(names, ", "))
	} else {
		fmt.Fprintln(w, "flagged: no")
	}
	return nil
}

func resultText(r rules.RuleResult) string {
	switch r {
	case rules.Match:
		return "match"
	case rules.NoMatch:
		return "no match"
	}
	return "error"
}

// parseInterspersed parses flags that may come after positional arguments
// ("import-fluentd FILE -o OUT") and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func truncate(s string, n int) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func rulesImportFluentd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowsieve rules import-fluentd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the rule file here instead of stdout")
	key := fs.String("key", "flow", "the fluentd-filters ConfigMap key to import, when FILE is the manifest")
	tag := fs.String("tag", "", "the fluentd tag of the records; <filter> sections whose pattern does not match it are left out (default: flows, or dns with --key dns)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: flowsieve rules import-fluentd [-o OUT] [--key KEY] [--tag TAG] FILE|-\n\n"+
			"Turns fluentd <filter> @type grep sections (Calico's filters/flow file) into a rule\n"+
			"file whose rules judge records exactly as fluentd did (compat: fluentd).")
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
	name := pos[0]
	if err := refuseClobber(nil, []output{{"-o", *out}}, []string{name}); err != nil {
		fmt.Fprintf(stderr, "flowsieve rules import-fluentd: %v\n", err)
		return exitUsage
	}
	var data []byte
	if name == "-" {
		data, err = io.ReadAll(stdin)
		name = "stdin"
	} else {
		data, err = os.ReadFile(name)
	}
	if err == nil {
		data, err = fluentdInput(data, *key, stderr) // a fluentd-filters manifest: its key's value
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowsieve rules import-fluentd: %v\n", err)
		return exitFailure
	}
	if *tag == "" {
		*tag = "flows"
		if *key == "dns" {
			*tag = "dns"
		}
	}
	res, err := fluentd.ImportWith(data, name, fluentd.Options{Tag: *tag})
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve rules import-fluentd: cannot import:")
		for _, e := range rules.Errors(err) {
			fmt.Fprintln(stderr, e)
		}
		return exitFailure
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	// What is written must pass `rules check`.
	if _, err := rules.Load(res.YAML, "imported.yaml"); err != nil {
		fmt.Fprintf(stderr, "flowsieve rules import-fluentd: internal error, the imported rules do not load: %v\n", err)
		return exitFailure
	}
	if *out == "" {
		if _, err := stdout.Write(res.YAML); err != nil {
			return exitFailure
		}
	} else if err := os.WriteFile(*out, res.YAML, 0o644); err != nil {
		fmt.Fprintf(stderr, "flowsieve rules import-fluentd: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "imported %d filter(s) from %s\n", res.Filters, name)
	return exitOK
}

// readLineCapped returns the next line including its '\n' (absent on the
// last line of an input that does not end with one), assembling lines
// longer than the reader's buffer. A line over max bytes is read to its
// end but not kept: long is then its length, without the '\n'. The slice
// is valid until the next call.
func readLineCapped(r *bufio.Reader, max int) (line []byte, long int64, err error) {
	line, err = r.ReadSlice('\n')
	if err != bufio.ErrBufferFull && len(line) <= max {
		return line, 0, err
	}
	n := int64(len(line))
	held := append([]byte(nil), line[:min(len(line), max)]...)
	for err == bufio.ErrBufferFull {
		line, err = r.ReadSlice('\n')
		if n += int64(len(line)); n <= int64(max) {
			held = append(held, line...)
		}
	}
	if n <= int64(max) {
		return held, 0, err
	}
	if err == nil {
		n-- // the '\n'
	}
	return nil, n, err
}

// describeFeed is one line of rules check about a feed: where it comes
// from, its format, how often it is read and what it holds.
func describeFeed(f rules.FeedInfo) string {
	if f.Disabled {
		return fmt.Sprintf("%s: %s, mode Disabled: not pulled, matches nothing", f.Name, f.Content)
	}
	when := "reloaded when the file changes"
	if f.Period > 0 {
		when = "pulled every " + shortDuration(f.Period)
	}
	return fmt.Sprintf("%s: %s from %s, %s, %s, %d entries", f.Name, f.Content, f.Source, f.Format, when, f.Entries)
}

// shortDuration prints 24h rather than 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
