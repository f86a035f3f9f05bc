package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// stdin is where "-" and a missing INPUT read from; tests replace it.
var stdin io.Reader = os.Stdin

const filterUsageText = `usage: flowsieve filter --rules FILE [--threats-out FILE] [--invalid-out FILE] [INPUT...]

Judges flow-log records (text or JSON lines, mixed) from the INPUT files, or
stdin when there are none ("-" is stdin), with the same rules and the same
judgement as the pipeline: kept records go to stdout unchanged, threat-flagged
records (kept or dropped) to --threats-out as JSON lines with the reasons,
lines that do not parse to --invalid-out with the reason, and a summary to
stderr.

flags:
`

type filterParams struct {
	rules, threatsOut, invalidOut, progress string
}

func filterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var p filterParams
	fs := flag.NewFlagSet("flowsieve filter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, filterUsageText); fs.PrintDefaults() }
	fs.StringVar(&p.rules, "rules", "", "rule file (required)")
	fs.StringVar(&p.threatsOut, "threats-out", "", "write threat-flagged records here as JSON lines")
	fs.StringVar(&p.invalidOut, "invalid-out", "", "write records that do not parse here, one JSON line each with the reason")
	fs.StringVar(&p.progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal and the input a large file), always, never")
	inputs, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if p.rules == "" {
		fmt.Fprintln(stderr, "flowsieve filter: --rules is required")
		return exitUsage
	}
	if p.progress != "auto" && p.progress != "always" && p.progress != "never" {
		fmt.Fprintf(stderr, "flowsieve filter: --progress must be auto, always or never, not %q\n", p.progress)
		return exitUsage
	}
	s, err := rules.LoadFile(p.rules)
	if err != nil {
		fmt.Fprintf(stderr, "flowsieve filter: %s does not load:\n", p.rules)
		for _, e := range rules.Errors(err) {
			fmt.Fprintln(stderr, e)
		}
		return exitFailure
	}
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	f := &filterRun{s: s, p: p, stderr: stderr,
		dropped: make([]int64, len(s.FilterNames())), flagged: make([]int64, len(s.ThreatRules()))}
	f.out = bufio.NewWriterSize(stdout, 1<<16)
	closeAll := func() {}
	if p.threatsOut != "" {
		fh, err := os.Create(p.threatsOut)
		if err != nil {
			fmt.Fprintf(stderr, "flowsieve filter: %v\n", err)
			return exitFailure
		}
		f.threats = bufio.NewWriterSize(fh, 1<<16)
		prev := closeAll
		closeAll = func() { prev(); fh.Close() }
	}
	if p.invalidOut != "" {
		fh, err := os.Create(p.invalidOut)
		if err != nil {
			fmt.Fprintf(stderr, "flowsieve filter: %v\n", err)
			closeAll()
			return exitFailure
		}
		f.invalid = bufio.NewWriterSize(fh, 1<<16)
		prev := closeAll
		closeAll = func() { prev(); fh.Close() }
	}
	code := exitOK
	for _, in := range inputs {
		if err := f.input(ctx, in); err != nil {
			fmt.Fprintf(stderr, "flowsieve filter: %v\n", err)
			code = exitFailure
			break
		}
	}
	for _, w := range []*bufio.Writer{f.out, f.threats, f.invalid} {
		if w != nil {
			if err := w.Flush(); err != nil {
				fmt.Fprintf(stderr, "flowsieve filter: writing output: %v\n", err)
				code = exitFailure
			}
		}
	}
	closeAll()
	f.summary()
	return code
}

type filterRun struct {
	s                     *rules.Set
	p                     filterParams
	stderr                io.Writer
	out, threats, invalid *bufio.Writer
	in, kept, flaggedRecs int64
	invalidN, blank       int64
	dropped, flagged      []int64
	invalidShown          int
	flow                  codec.Flow
	verdict               rules.Verdict
	buf                   []byte
}

// maxInvalidShown caps the invalid lines reported on stderr when there is
// no --invalid-out.
const maxInvalidShown = 10

func (f *filterRun) input(ctx context.Context, name string) error {
	var r io.Reader
	var size int64
	display := name
	if name == "-" {
		r, display = stdin, "stdin"
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return err
		}
		defer fh.Close()
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		r = fh
	}
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 1<<16)
	bar := f.progressBar(display, size)
	defer bar.done()
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if len(line) > 0 {
			if lineNo%4096 == 0 {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				bar.update(cr.n-int64(br.Buffered()), f.in)
			}
			if err := f.record(display, lineNo, line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", display, err)
		}
	}
}

// record judges one line (with its newline, if it had one).
func (f *filterRun) record(input string, lineNo int, line []byte) error {
	rec := trimNewline(line)
	if isBlank(rec) {
		f.blank++
		return nil
	}
	f.in++
	if err := codec.Decode(rec, &f.flow); err != nil {
		f.invalidN++
		if f.invalid != nil {
			f.buf = appendInvalidJSON(f.buf[:0], input, lineNo, err.Error(), rec)
			_, werr := f.invalid.Write(f.buf)
			return werr
		}
		if f.invalidShown < maxInvalidShown {
			fmt.Fprintf(f.stderr, "%s:%d: invalid record: %v\n", input, lineNo, err)
		} else if f.invalidShown == maxInvalidShown {
			fmt.Fprintln(f.stderr, "(more invalid records not shown; use --invalid-out)")
		}
		f.invalidShown++
		return nil
	}
	f.s.Judge(&f.flow, &f.verdict)
	v := &f.verdict
	if v.Flagged() {
		f.flaggedRecs++
		for _, h := range v.Threats {
			f.flagged[h.Rule]++
		}
		if f.threats != nil {
			f.buf = rules.AppendThreatJSON(f.buf[:0], &f.flow, f.s, v)
			f.buf = append(f.buf, '\n')
			if _, err := f.threats.Write(f.buf); err != nil {
				return err
			}
		}
	}
	if !v.Keep {
		f.dropped[v.DropRule]++
		return nil
	}
	f.kept++
	if _, err := f.out.Write(rec); err != nil {
		return err
	}
	return f.out.WriteByte('\n')
}

func (f *filterRun) summary() {
	w := f.stderr
	fmt.Fprintf(w, "flowsieve filter: rules %s (version %s)\n", f.s.Path(), f.s.Version())
	fmt.Fprintf(w, "  records in  %d\n", f.in)
	fmt.Fprintf(w, "  kept        %d\n", f.kept)
	var dropped int64
	for _, n := range f.dropped {
		dropped += n
	}
	fmt.Fprintf(w, "  dropped     %d\n", dropped)
	names := f.s.FilterNames()
	for i, n := range f.dropped {
		if n > 0 {
			fmt.Fprintf(w, "    %-40s %d\n", names[i], n)
		}
	}
	fmt.Fprintf(w, "  flagged     %d\n", f.flaggedRecs)
	tr := f.s.ThreatRules()
	order := make([]int, len(tr))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return f.flagged[order[a]] > f.flagged[order[b]] })
	for _, i := range order {
		if f.flagged[i] > 0 {
			fmt.Fprintf(w, "    %-40s %d\n", tr[i].Name+" ("+tr[i].Severity+")", f.flagged[i])
		}
	}
	fmt.Fprintf(w, "  invalid     %d\n", f.invalidN)
	if f.blank > 0 {
		fmt.Fprintf(w, "  (%d blank lines skipped)\n", f.blank)
	}
}

// readLine returns the next line including its '\n' (absent on the last
// line of an input that does not end with one). Lines longer than the
// reader's buffer are assembled, so no record is too long to read. The
// slice is valid until the next call.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	long := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		line, err = r.ReadSlice('\n')
		long = append(long, line...)
	}
	return long, err
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// appendInvalidJSON writes {"input":..,"line":..,"error":..,"record":..};
// a record that is not UTF-8 is written as "record_hex" so no byte is lost.
func appendInvalidJSON(dst []byte, input string, line int, reason string, rec []byte) []byte {
	dst = append(dst, `{"input":`...)
	dst = codec.AppendJSONString(dst, input)
	dst = append(dst, fmt.Sprintf(`,"line":%d,"error":`, line)...)
	dst = codec.AppendJSONString(dst, reason)
	if utf8.Valid(rec) {
		dst = append(dst, `,"record":`...)
		dst = codec.AppendJSONString(dst, string(rec))
	} else {
		dst = append(dst, fmt.Sprintf(`,"record_hex":"%x"`, rec)...)
	}
	return append(dst, "}\n"...)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// progressMinSize is the input size from which --progress auto draws a bar.
const progressMinSize = 16 << 20

type progressBar struct {
	w     io.Writer
	name  string
	size  int64
	on    bool
	last  time.Time
	drawn bool
}

func (f *filterRun) progressBar(name string, size int64) *progressBar {
	on := false
	switch f.p.progress {
	case "always":
		on = size > 0
	case "auto":
		on = size >= progressMinSize && isTerminal(f.stderr)
	}
	return &progressBar{w: f.stderr, name: name, size: size, on: on}
}

func (b *progressBar) update(read, records int64) {
	if !b.on || time.Since(b.last) < 200*time.Millisecond {
		return
	}
	b.last = time.Now()
	frac := float64(read) / float64(b.size)
	if frac > 1 {
		frac = 1
	}
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %d records", b.name, strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, records)
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// isTerminal reports whether w is a character device (a terminal); no
// extra dependency is worth this one check.
func isTerminal(w io.Writer) bool {
	fh, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := fh.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
