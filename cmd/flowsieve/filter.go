package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/ruby"
	"github.com/flowsieve/flowsieve/rules"
)

// stdin is where "-" and a missing INPUT read from; tests replace it.
var stdin io.Reader = os.Stdin

const filterUsageText = `usage: flowsieve filter --rules FILE [--threats-out FILE] [--invalid-out FILE]
                        [--fields LIST] [--shadow FILE [--diff-out FILE]] [INPUT...]

Judges flow-log records (text or JSON lines, mixed) from the INPUT files, or
stdin when there are none ("-" is stdin), with the same rules and the same
judgement as the pipeline: kept records go to stdout unchanged, threat-flagged
records (kept or dropped) to --threats-out as JSON lines with the reasons,
lines that do not parse to --invalid-out with the reason, and a summary to
stderr.

--shadow judges every record by a second, candidate rule file as well; it
changes no output. The summary adds the table of live x shadow decisions and
the candidate's per-rule counts, and --diff-out receives one JSON line per
record the two files judge differently (kept vs dropped, or flagged by
another set of threat rules).

--fields writes kept records as JSON with only the listed fields (as the
config's output.fields: "source_namespace,bytes_in,$.kubernetes.pod", or
"-source_labels,-dest_labels" to remove). Sample and cap filters scale the
counters of the records they keep, as the pipeline does; the summary shows,
per such filter, the flows it saw and kept and its estimate of their bytes
beside the truth, and the bytes read and written.

flags:
`

type filterParams struct {
	rules, threatsOut, invalidOut, progress string
	shadow, diffOut                         string
	fields                                  string
	maxRecordBytes                          int
}

func filterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var p filterParams
	fs := flag.NewFlagSet("flowsieve filter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, filterUsageText); fs.PrintDefaults() }
	fs.StringVar(&p.rules, "rules", "", "rule file (required)")
	fs.StringVar(&p.threatsOut, "threats-out", "", "write threat-flagged records here as JSON lines")
	fs.StringVar(&p.invalidOut, "invalid-out", "", "write records that do not parse here, one JSON line each with the reason")
	fs.StringVar(&p.shadow, "shadow", "", "candidate rule file: judge every record by it too and report where it differs (changes no output)")
	fs.StringVar(&p.diffOut, "diff-out", "", "with --shadow: write each record the two rule files judge differently here as a JSON line")
	fs.StringVar(&p.fields, "fields", "", "write kept records as JSON with only these fields, comma-separated (-name removes a field instead); as output.fields")
	fs.StringVar(&p.progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal and the input a large file), always, never")
	fs.IntVar(&p.maxRecordBytes, "max-record-bytes", codec.DefaultLimits.RecordBytes, "longest line judged (as input.max_record_bytes); a longer one is counted invalid and skipped, never held in memory")
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
	if p.diffOut != "" && p.shadow == "" {
		fmt.Fprintln(stderr, "flowsieve filter: --diff-out needs --shadow")
		return exitUsage
	}
	if p.progress != "auto" && p.progress != "always" && p.progress != "never" {
		fmt.Fprintf(stderr, "flowsieve filter: --progress must be auto, always or never, not %q\n", p.progress)
		return exitUsage
	}
	if p.maxRecordBytes < 1 {
		fmt.Fprintf(stderr, "flowsieve filter: --max-record-bytes must be at least 1, not %d\n", p.maxRecordBytes)
		return exitUsage
	}
	var out codec.Output
	if p.fields != "" {
		proj, err := rules.ParseFields(strings.Split(p.fields, ","))
		if err != nil {
			fmt.Fprintf(stderr, "flowsieve filter: --%v\n", err)
			return exitUsage
		}
		out.Fields = proj
	}
	s, code := loadFilterRules(ctx, p.rules, stderr)
	if s == nil {
		return code
	}
	var shadow *rules.Set
	if p.shadow != "" {
		if shadow, code = loadFilterRules(ctx, p.shadow, stderr); shadow == nil {
			return code
		}
	}
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	readFiles := append(append([]string(nil), inputs...), s.Files()...)
	if shadow != nil {
		readFiles = append(readFiles, shadow.Files()...)
	}
	if err := refuseClobber(stdout, []output{{"--threats-out", p.threatsOut}, {"--invalid-out", p.invalidOut}, {"--diff-out", p.diffOut}},
		readFiles); err != nil {
		fmt.Fprintf(stderr, "flowsieve filter: %v\n", err)
		return exitUsage
	}
	f := &filterRun{s: s, p: p, stderr: stderr, limits: codec.Limits{RecordBytes: p.maxRecordBytes}, timeouts0: ruby.Timeouts(),
		live: newTally(s), output: out, blind: map[rules.Blind]int64{}}
	if shadow != nil {
		f.shadow, f.shadowTally = shadow, newTally(shadow)
	}
	f.out = bufio.NewWriterSize(stdout, 1<<16)
	closeAll := func() {}
	if p.diffOut != "" {
		fh, err := os.Create(p.diffOut)
		if err != nil {
			fmt.Fprintf(stderr, "flowsieve filter: %v\n", err)
			return exitFailure
		}
		f.diff = bufio.NewWriterSize(fh, 1<<16)
		prev := closeAll
		closeAll = func() { prev(); fh.Close() }
	}
	if p.threatsOut != "" {
		fh, err := os.Create(p.threatsOut)
		if err != nil {
			fmt.Fprintf(stderr, "flowsieve filter: %v\n", err)
			closeAll()
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
	code = exitOK
	for _, in := range inputs {
		if err := f.input(ctx, in); err != nil {
			fmt.Fprintf(stderr, "flowsieve filter: %v\n", err)
			code = exitFailure
			if ctx.Err() != nil {
				code = interruptedCode(ctx)
				fmt.Fprintln(stderr, "flowsieve filter: stopped early; the summary counts what was read so far")
			}
			break
		}
	}
	for _, w := range []*bufio.Writer{f.out, f.threats, f.invalid, f.diff} {
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

// loadFilterRules loads a rule file named on the command line; a nil Set
// comes with the exit code.
func loadFilterRules(ctx context.Context, path string, stderr io.Writer) (*rules.Set, int) {
	s, err := rules.LoadFileContext(ctx, path)
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "flowsieve filter: %v\n", context.Cause(ctx))
		return nil, interruptedCode(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowsieve filter: %s does not load:\n", path)
		for _, e := range rules.Errors(err) {
			fmt.Fprintln(stderr, e)
		}
		return nil, exitFailure
	}
	return s, exitOK
}

type filterRun struct {
	s                     *rules.Set
	p                     filterParams
	stderr                io.Writer
	out, threats, invalid *bufio.Writer
	in                    int64
	invalidN, blank       int64
	live                  tally
	blind                 map[rules.Blind]int64 // records each threat rule could not judge, by field
	invalidShown          int
	flow                  codec.Flow
	verdict               rules.Verdict
	limits                codec.Limits
	output                codec.Output
	buf                   []byte
	bytesIn, bytesOut     int64  // of the records judged, and of the kept records written
	timeouts0             uint64 // ruby.Timeouts() when the run began

	// With --shadow: the candidate set, its counts, and the records the
	// two sets judge by decision (index 0 kept, 1 dropped; live first).
	shadow        *rules.Set
	shadowTally   tally
	shadowVerdict rules.Verdict
	decisions     [2][2]int64
	disagreed     int64
	diff          *bufio.Writer
}

// tally counts one rule set's judgements.
type tally struct {
	kept, flaggedRecs int64
	dropped, flagged  []int64 // by filter, by threat rule
	sampled           []rules.SampleTotals
}

func newTally(s *rules.Set) tally {
	return tally{dropped: make([]int64, len(s.FilterNames())), flagged: make([]int64, len(s.ThreatRules())),
		sampled: make([]rules.SampleTotals, len(s.FilterNames()))}
}

func (t *tally) count(f *codec.Flow, v *rules.Verdict) {
	if v.Flagged() {
		t.flaggedRecs++
		for _, h := range v.Threats {
			t.flagged[h.Rule]++
		}
	}
	for _, smp := range v.Samples {
		t.sampled[smp.Rule].Add(f, smp)
	}
	if v.Keep {
		t.kept++
	} else {
		t.dropped[v.DropRule]++
	}
}

// decisionIndex is a verdict's row or column in filterRun.decisions.
func decisionIndex(v *rules.Verdict) int {
	if v.Keep {
		return 0
	}
	return 1
}

// maxInvalidShown caps the invalid lines reported on stderr when there is
// no --invalid-out.
const maxInvalidShown = 10

// input judges the lines of one input. The input is read on a goroutine
// of its own (see chunkReader) so that a signal is obeyed at once whatever
// the input does: a read blocked on a silent stdin cannot be interrupted,
// and a line that never ends (/dev/zero) is read in chunks, never held
// whole: past the record-bytes limit it is only counted until its end.
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
	bar := f.progressBar(display, size)
	defer bar.done()
	chunks := startChunkReader(r)
	defer chunks.stop()
	limit := f.limits.RecordBytes
	var (
		read   int64  // bytes taken from the input
		line   []byte // the start of a line that spans chunks
		over   int64  // the length so far of a line over the limit; -1 when none
		lineNo = 1
	)
	over = -1
	// end finishes the current line: whole is the line (its newline
	// included, if it had one) when it was not over the limit.
	end := func(whole []byte) error {
		defer func() { lineNo++ }()
		if over >= 0 {
			n := over
			over = -1
			return f.tooLong(display, lineNo, n, limit)
		}
		if lineNo%4096 == 0 {
			bar.update(read, f.in)
		}
		return f.record(display, lineNo, whole)
	}
	for {
		var c chunk
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case c = <-chunks.ch:
		}
		b := c.b
		read += int64(len(b))
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			part := b
			if i >= 0 {
				part = b[:i+1]
			}
			b = b[len(part):]
			content := len(part)
			if i >= 0 {
				content-- // the newline does not count
			}
			switch {
			case over >= 0:
				over += int64(content)
			case len(line)+content > limit:
				over = int64(len(line) + content)
				line = line[:0]
			case i >= 0 && len(line) == 0:
				// The whole line is in this chunk: judge it in place.
				if err := end(part); err != nil {
					return err
				}
				if lineNo%4096 == 0 && ctx.Err() != nil {
					return context.Cause(ctx)
				}
				continue
			default:
				line = append(line, part...)
			}
			if i >= 0 {
				err := end(line)
				line = line[:0]
				if err != nil {
					return err
				}
			}
		}
		chunks.recycle(c.b)
		if c.err == io.EOF {
			if over >= 0 || len(line) > 0 {
				return end(line)
			}
			return nil
		}
		if c.err != nil {
			return fmt.Errorf("reading %s: %w", display, c.err)
		}
	}
}

// tooLong counts a line over the record-bytes limit as invalid, as the
// pipeline does a record; the line itself was not kept.
func (f *filterRun) tooLong(input string, lineNo int, n int64, limit int) error {
	f.in++
	err := &codec.LimitError{Limit: codec.LimitRecordBytes, Max: limit, Offset: int(min(n, math.MaxInt))}
	return f.invalidRecord(input, lineNo, err, nil)
}

// chunkReader reads an input on a goroutine of its own and hands over
// its bytes in chunks of up to 64 KiB, two ahead at most. stop ends the
// goroutine at its next chunk; one blocked in a read that never returns
// (a silent stdin) is left to end with the process, which is exiting: it
// is stopped only when filter stops early.
type chunkReader struct {
	ch   chan chunk
	free chan []byte
	quit chan struct{}
}

type chunk struct {
	b   []byte
	err error
}

func startChunkReader(r io.Reader) *chunkReader {
	const bufs, size = 3, 64 << 10
	c := &chunkReader{ch: make(chan chunk, bufs), free: make(chan []byte, bufs), quit: make(chan struct{})}
	for range bufs {
		c.free <- make([]byte, size)
	}
	go func() {
		for {
			var buf []byte
			select {
			case buf = <-c.free:
			case <-c.quit:
				return
			}
			n, err := r.Read(buf[:cap(buf)])
			if n == 0 && err == nil {
				c.free <- buf
				continue
			}
			select {
			case c.ch <- chunk{buf[:n], err}:
			case <-c.quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (c *chunkReader) recycle(b []byte) { c.free <- b[:0] }

func (c *chunkReader) stop() { close(c.quit) }

// record judges one line (with its newline, if it had one).
func (f *filterRun) record(input string, lineNo int, line []byte) error {
	rec := trimNewline(line)
	if isBlank(rec) {
		f.blank++
		return nil
	}
	f.in++
	if err := f.limits.Decode(rec, &f.flow); err != nil {
		return f.invalidRecord(input, lineNo, err, rec)
	}
	f.s.Judge(&f.flow, &f.verdict)
	v := &f.verdict
	f.live.count(&f.flow, v)
	f.bytesIn += int64(len(rec))
	for _, b := range v.Blind {
		f.blind[b]++
	}
	if f.shadow != nil {
		if err := f.judgeShadow(rec); err != nil {
			return err
		}
	}
	if v.Flagged() {
		if f.threats != nil {
			f.buf = rules.AppendThreatJSON(f.buf[:0], &f.flow, f.s, v)
			f.buf = append(f.buf, '\n')
			if _, err := f.threats.Write(f.buf); err != nil {
				return err
			}
		}
	}
	if !v.Keep {
		return nil
	}
	out := rec
	if sc := v.Scale(); !f.output.Verbatim(sc) {
		f.buf = f.output.Append(f.buf[:0], rec, &f.flow, sc)
		out = f.buf
	}
	f.bytesOut += int64(len(out))
	if _, err := f.out.Write(out); err != nil {
		return err
	}
	return f.out.WriteByte('\n')
}

// judgeShadow judges the decoded flow by the candidate set too, counts
// both decisions and writes a disagreement to --diff-out.
func (f *filterRun) judgeShadow(rec []byte) error {
	sv := &f.shadowVerdict
	f.shadow.Judge(&f.flow, sv)
	f.shadowTally.count(&f.flow, sv)
	f.decisions[decisionIndex(&f.verdict)][decisionIndex(sv)]++
	if !rules.Compare(f.s, &f.verdict, f.shadow, sv).Disagree() {
		return nil
	}
	f.disagreed++
	if f.diff == nil {
		return nil
	}
	f.buf = rules.AppendShadowJSON(f.buf[:0], rec, f.s, &f.verdict, f.shadow, sv)
	f.buf = append(f.buf, '\n')
	_, err := f.diff.Write(f.buf)
	return err
}

// invalidRecord counts and reports a record that is not judged: in
// --invalid-out with the record (rec nil: too long to have been kept), or
// on stderr for the first few.
func (f *filterRun) invalidRecord(input string, lineNo int, err error, rec []byte) error {
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

func (f *filterRun) summary() {
	w := f.stderr
	fmt.Fprintf(w, "flowsieve filter: rules %s (version %s)\n", f.s.Path(), f.s.Version())
	fmt.Fprintf(w, "  records in  %d\n", f.in)
	f.live.print(w, f.s)
	fmt.Fprintf(w, "  invalid     %d\n", f.invalidN)
	fmt.Fprintf(w, "  bytes in    %d (records judged), out %d (kept records as written)\n", f.bytesIn, f.bytesOut)
	f.printBlind(w)
	if f.shadow != nil {
		fmt.Fprintf(w, "shadow: rules %s (version %s), judged the same %d records\n", f.shadow.Path(), f.shadow.Version(), f.in-f.invalidN)
		f.shadowTally.print(w, f.shadow)
		d := &f.decisions
		fmt.Fprintf(w, "  live \\ shadow   %12s %12s\n", "kept", "dropped")
		fmt.Fprintf(w, "  kept           %12d %12d\n", d[0][0], d[0][1])
		fmt.Fprintf(w, "  dropped        %12d %12d\n", d[1][0], d[1][1])
		fmt.Fprintf(w, "  disagreements  %d (kept vs dropped, or flagged by other threat rules)\n", f.disagreed)
	}
	if f.blank > 0 {
		fmt.Fprintf(w, "  (%d blank lines skipped)\n", f.blank)
	}
	if n := ruby.Timeouts() - f.timeouts0; n > 0 {
		fmt.Fprintf(w, "  regex timeouts %d (matches that ran out of their %v; a compat rule keeps such a record)\n", n, ruby.MatchBudget)
	}
}

// printBlind lists the threat rules that could not judge records because
// a field they need was empty (Calico's aggregation), most first.
func (f *filterRun) printBlind(w io.Writer) {
	if len(f.blind) == 0 {
		return
	}
	keys := make([]rules.Blind, 0, len(f.blind))
	for b := range f.blind {
		keys = append(keys, b)
	}
	sort.Slice(keys, func(i, j int) bool {
		if f.blind[keys[i]] != f.blind[keys[j]] {
			return f.blind[keys[i]] > f.blind[keys[j]]
		}
		return keys[i].Rule < keys[j].Rule || keys[i].Rule == keys[j].Rule && keys[i].Field < keys[j].Field
	})
	fmt.Fprintln(w, "  unevaluable (threat rules blind: a field they need was empty, as on aggregated flows)")
	tr := f.s.ThreatRules()
	for _, b := range keys {
		fmt.Fprintf(w, "    %-40s %d\n", tr[b.Rule].Name+" ("+b.Field.String()+")", f.blind[b])
	}
}

// print writes the kept, dropped and flagged counts, per rule.
func (t *tally) print(w io.Writer, s *rules.Set) {
	fmt.Fprintf(w, "  kept        %d\n", t.kept)
	var dropped int64
	for _, n := range t.dropped {
		dropped += n
	}
	fmt.Fprintf(w, "  dropped     %d\n", dropped)
	names := s.FilterNames()
	for i, n := range t.dropped {
		if n > 0 {
			fmt.Fprintf(w, "    %-40s %d\n", names[i], n)
		}
	}
	for i, st := range t.sampled {
		if st.Seen == 0 {
			continue
		}
		if i == firstSampled(t.sampled) {
			fmt.Fprintf(w, "  sampled (flows seen and kept; bytes: truth over the flows seen, estimate from the kept)\n")
		}
		fmt.Fprintf(w, "    %-40s seen %d kept %d; bytes %d, estimated %.0f (%+.1f %%)\n",
			names[i], st.Seen, st.Kept, st.TrueBytes, st.ScaledBytes, st.ErrorPercent())
	}
	fmt.Fprintf(w, "  flagged     %d\n", t.flaggedRecs)
	tr := s.ThreatRules()
	order := make([]int, len(tr))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return t.flagged[order[a]] > t.flagged[order[b]] })
	for _, i := range order {
		if t.flagged[i] > 0 {
			fmt.Fprintf(w, "    %-40s %d\n", tr[i].Name+" ("+tr[i].Severity+")", t.flagged[i])
		}
	}
}

// firstSampled is the first filter with sampled flows, -1 when none.
func firstSampled(st []rules.SampleTotals) int {
	for i := range st {
		if st[i].Seen > 0 {
			return i
		}
	}
	return -1
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
// a record that is not UTF-8 is written as "record_hex" so no byte is lost,
// and a line too long to keep (rec nil) has no record. Linear in the
// record: at most 6 bytes out per byte in (a control byte, \u00XX).
func appendInvalidJSON(dst []byte, input string, line int, reason string, rec []byte) []byte {
	dst = append(dst, `{"input":`...)
	dst = codec.AppendJSONString(dst, input)
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendInt(dst, int64(line), 10)
	dst = append(dst, `,"error":`...)
	dst = codec.AppendJSONString(dst, reason)
	switch {
	case rec == nil:
	case utf8.Valid(rec):
		dst = append(dst, `,"record":`...)
		dst = codec.AppendJSONString(dst, string(rec))
	default:
		dst = append(dst, `,"record_hex":"`...)
		dst = hex.AppendEncode(dst, rec)
		dst = append(dst, '"')
	}
	return append(dst, "}\n"...)
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
