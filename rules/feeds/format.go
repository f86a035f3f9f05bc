package feeds

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/gaissmai/bart"

	"github.com/flowsieve/flowsieve/internal/quote"
)

// Content is what a feed lists: IP addresses and prefixes, or domain
// names (GlobalThreatFeed's spec.content).
type Content uint8

// The contents of a feed.
const (
	IPSet Content = iota
	DomainNameSet
)

func (c Content) String() string {
	if c == DomainNameSet {
		return "DomainNameSet"
	}
	return "IPSet"
}

// FormatKind is how a feed's body lists its entries.
type FormatKind uint8

// The formats of GlobalThreatFeed's spec.pull.http.format.
const (
	NewlineDelimited FormatKind = iota
	JSON
	CSV
)

// Format is a feed body's format.
type Format struct {
	Kind FormatKind
	// JSONPath is the json format's path, as written ($.a.b[*]).
	JSONPath string
	CSV      CSVFormat
}

// CSVFormat is the csv format's settings (GlobalThreatFeed's
// spec.pull.http.format.csv).
type CSVFormat struct {
	FieldNum    int    // 0-based column of the values; -1 when FieldName names it
	FieldName   string // the header of the column of the values (needs Header)
	Header      bool   // the first record is a header
	Comma       rune   // column delimiter, ',' by default
	Comment     rune   // lines starting with it are skipped; 0 for none
	RecordSize  int    // columns every record must have; 0: as many as the first
	NoSizeCheck bool   // records may have any number of columns
}

func (f Format) String() string {
	switch f.Kind {
	case JSON:
		return "json (path " + f.JSONPath + ")"
	case CSV:
		col := "column " + strconv.Itoa(f.CSV.FieldNum)
		if f.CSV.FieldName != "" {
			col = "column " + strconv.Quote(f.CSV.FieldName)
		}
		return "csv (" + col + ")"
	}
	return "newlineDelimited"
}

// Table is one loaded version of a feed: immutable, shared by every Set
// that uses it.
type Table struct {
	Content Content
	IPs     *bart.Lite // IPSet
	Domains *DomainSet // DomainNameSet
	Entries int
	Bytes   int64     // size of the body it was read from
	Hash    string    // of the body, short hex: part of a rule Set's version
	Fetched time.Time // when the body was fetched (or the file read)
}

// ContainsAddr reports whether a is in an IPSet table.
func (t *Table) ContainsAddr(a netip.Addr) bool { return t.IPs != nil && t.IPs.Contains(a) }

// maxErrors caps how many bad entries one feed reports: a wrong file (a
// binary, a page of HTML) would otherwise produce millions of errors.
const maxErrors = 20

// Build reads a feed body in format f and builds its table. src names the
// body in errors (a file, or a URL without its query) and name the feed.
// Every bad entry is an error "src:line: feed "name": what", which shows at
// most an excerpt of the entry (quote.Excerpt): a feed may be a file never
// meant to be one, or an error page holding a secret. Any bad entry fails
// the whole build: a feed that half parses is a wrong feed.
//
// An IP entry covering a whole address family (0.0.0.0/0, ::/0) would flag
// every flow: it is an error unless allowAny.
func Build(ctx context.Context, r io.Reader, c Content, f Format, allowAny bool, src, name string) (*Table, error) {
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(r, h)}
	b := &builder{content: c, allowAny: allowAny, src: src, name: name}
	if c == IPSet {
		b.ips = new(bart.Lite)
	} else {
		b.dom = new(domainBuilder)
		// The names take at most the body's bytes: one allocation
		// instead of a doubling series.
		if l, ok := r.(interface{ Len() int }); ok {
			b.dom.arena = make([]byte, 0, l.Len()+1)
		}
	}
	var err error
	switch f.Kind {
	case JSON:
		err = b.readJSON(ctx, cr, f)
	case CSV:
		err = b.readCSV(ctx, cr, f.CSV)
	default:
		err = b.readLines(ctx, cr)
	}
	if err != nil {
		return nil, err
	}
	if len(b.errs) == maxErrors {
		b.errs = append(b.errs, fmt.Errorf("%s: feed %q: too many errors, stopped reporting", src, name))
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	t := &Table{Content: c, IPs: b.ips, Entries: b.entries, Bytes: cr.n, Hash: hex.EncodeToString(h.Sum(nil))[:16]}
	if b.dom != nil {
		t.Domains = b.dom.build()
	}
	return t, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type builder struct {
	content  Content
	allowAny bool
	src      string
	name     string
	ips      *bart.Lite
	dom      *domainBuilder
	entries  int
	errs     []error
}

// pos is where an entry is: a line, or (json) its number in the list.
// It is formatted only for an error: most entries are good.
type pos struct {
	n     int
	entry bool
}

func (p pos) String() string {
	if p.entry {
		return "entry " + strconv.Itoa(p.n)
	}
	return strconv.Itoa(p.n)
}

// bad records a bad entry.
func (b *builder) bad(where pos, format string, args ...any) {
	if len(b.errs) < maxErrors {
		b.errs = append(b.errs, fmt.Errorf("%s:%s: feed %q: %s", b.src, where, b.name, fmt.Sprintf(format, args...)))
	}
}

func (b *builder) full() bool { return len(b.errs) >= maxErrors }

// add adds one entry (trimmed, not empty); s may view a scratch buffer.
func (b *builder) add(where pos, s string) {
	if b.content == DomainNameSet {
		if why := b.dom.add(s); why != "" {
			b.bad(where, "%s: %s", quote.Excerpt(s), why)
			return
		}
		b.entries++
		return
	}
	p, why := ParsePrefix(s)
	switch {
	case why != "":
		b.bad(where, "%s: %s", quote.Excerpt(s), why)
	case p.Bits() == 0 && !b.allowAny:
		b.bad(where, "%s covers every %s address, so every flow would match; set allow_any: true on the feed if that is meant", p, Family(p))
	default:
		b.ips.Insert(p)
		b.entries++
	}
}

func (b *builder) stopped(ctx context.Context, at string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("feed %q: reading stopped at %s: %w", b.name, at, context.Cause(ctx))
	}
	return nil
}

// readLines reads the newlineDelimited format: one entry a line, '#'
// starts a comment, blank lines are ignored.
func (b *builder) readLines(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	line := 0
	for {
		if line&0xfff == 0 {
			if err := b.stopped(ctx, "line "+strconv.Itoa(line)); err != nil {
				return err
			}
		}
		s, rerr := br.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			// A line longer than 64 KiB is no entry; read past it.
			line++
			for rerr == bufio.ErrBufferFull {
				_, rerr = br.ReadSlice('\n')
			}
			b.bad(pos{n: line}, "line longer than 64 KiB, not an entry")
			if rerr != nil && rerr != io.EOF {
				return fmt.Errorf("feed %q: %w", b.name, rerr)
			}
			if rerr == io.EOF {
				return nil
			}
			continue
		}
		if len(s) > 0 {
			line++
			if i := bytes.IndexByte(s, '#'); i >= 0 {
				s = s[:i]
			}
			s = bytes.TrimSpace(s)
			if len(s) > 0 {
				// The parsers keep nothing of their input but the
				// domain builder's copy: a view of the read buffer
				// saves a copy per line.
				b.add(pos{n: line}, viewString(s))
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("feed %q: %w", b.name, rerr)
		}
	}
}

// readCSV reads the csv format, as Calico does with encoding/csv: the
// value is column FieldNum (or the column headed FieldName); records too
// short to have it are skipped, empty values too.
func (b *builder) readCSV(ctx context.Context, r io.Reader, f CSVFormat) error {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<16))
	cr.ReuseRecord = true
	cr.Comma = ','
	if f.Comma != 0 {
		cr.Comma = f.Comma
	}
	cr.Comment = f.Comment
	cr.FieldsPerRecord = f.RecordSize
	if f.NoSizeCheck {
		cr.FieldsPerRecord = -1
	}
	col := f.FieldNum
	if f.Header {
		head, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return b.csvErr(err)
		}
		if f.FieldName != "" {
			col = -1
			for i, h := range head {
				if strings.TrimSpace(h) == f.FieldName {
					col = i
					break
				}
			}
			if col < 0 {
				line, _ := cr.FieldPos(0)
				return fmt.Errorf("%s:%d: feed %q: the header has no column %q", b.src, line, b.name, f.FieldName)
			}
		}
	}
	for n := 0; ; n++ {
		if n&0xfff == 0 {
			if err := b.stopped(ctx, "record "+strconv.Itoa(n)); err != nil {
				return err
			}
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return fmt.Errorf("feed %q: %w", b.name, err)
			}
			// csv's messages say where and what, not the content.
			b.bad(pos{n: pe.StartLine}, "%v", pe.Err)
			if b.full() {
				return nil
			}
			continue
		}
		if col >= len(rec) {
			continue
		}
		if v := strings.TrimSpace(rec[col]); v != "" {
			line, _ := cr.FieldPos(col)
			b.add(pos{n: line}, v)
			if b.full() {
				return nil
			}
		}
	}
}

func (b *builder) csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: feed %q: %v", b.src, pe.StartLine, b.name, pe.Err)
	}
	return fmt.Errorf("feed %q: %w", b.name, err)
}

// viewString views b as a string without copying; it is valid until b's
// bytes are next written.
func viewString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// pathStep is one step of a json path: a member name, an index, or every
// element ([*]).
type pathStep struct {
	name  string
	index int // -1: a member; -2: every element
}

// ParseJSONPath parses the json format's path. Calico evaluates it with a
// JSONPath library and takes the result as a list of strings; flowsieve
// takes the subset that selects without filtering: $ (or "$."), .name,
// ["name"], [N] and [*]. The selected values must be strings or arrays of
// strings.
func ParseJSONPath(p string) ([]pathStep, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, errors.New("a json path starts with $ (e.g. $.ips, or $ for a top-level array)")
	}
	rest := p[1:]
	if rest == "." {
		return nil, nil
	}
	var steps []pathStep
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, ".."):
			return nil, errors.New("recursive descent (..) is not supported; name each step")
		case rest[0] == '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			switch {
			case name == "":
				return nil, errors.New("an empty member name after '.'")
			case name == "*":
				steps = append(steps, pathStep{index: -2})
			case strings.ContainsAny(name, "()?@ '\"*"):
				return nil, fmt.Errorf("member name %s: filters and expressions are not supported", quote.Cut(name))
			default:
				steps = append(steps, pathStep{name: name, index: -1})
			}
			rest = rest[end:]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, errors.New("a '[' without its ']'")
			}
			in := rest[1:end]
			rest = rest[end+1:]
			switch {
			case in == "*":
				steps = append(steps, pathStep{index: -2})
			case len(in) >= 2 && in[0] == '"' && in[len(in)-1] == '"':
				name, err := strconv.Unquote(in)
				if err != nil {
					return nil, fmt.Errorf("member name %s: %v", quote.Cut(in), err)
				}
				steps = append(steps, pathStep{name: name, index: -1})
			case len(in) > 0 && in[0] == '\'':
				return nil, errors.New("strings in brackets use double quotes, as in Calico")
			default:
				i, err := strconv.Atoi(in)
				if err != nil || i < 0 {
					return nil, fmt.Errorf("[%s]: want [N], [*] or [\"name\"]; filters and slices are not supported", in)
				}
				steps = append(steps, pathStep{index: i})
			}
		default:
			return nil, fmt.Errorf("unexpected %s; steps are .name, [\"name\"], [N] or [*]", quote.Cut(rest))
		}
	}
	return steps, nil
}

// readJSON reads the json format: it walks the document with the
// decoder's tokens, so only the selected strings are kept.
func (b *builder) readJSON(ctx context.Context, r io.Reader, f Format) error {
	steps, err := ParseJSONPath(f.JSONPath)
	if err != nil {
		return fmt.Errorf("feed %q: json path: %w", b.name, err)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	w := &jsonWalk{b: b, dec: dec, ctx: ctx}
	found, err := w.walk(steps, "$")
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s: feed %q: path %s selects nothing in the document", b.src, b.name, f.JSONPath)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: feed %q: data after the JSON document (at byte %d)", b.src, b.name, dec.InputOffset())
	}
	return nil
}

type jsonWalk struct {
	b   *builder
	dec *json.Decoder
	ctx context.Context
	n   int // entries seen, for "entry N"
}

func (w *jsonWalk) syntax(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: feed %q: not JSON at byte %d: %s", w.b.src, w.b.name, se.Offset, se.Error())
	}
	return fmt.Errorf("%s: feed %q: reading JSON at byte %d: %w", w.b.src, w.b.name, w.dec.InputOffset(), err)
}

// walk reads one value, following steps; at the end of the path the value
// is taken as entries. at is the path so far, for messages.
func (w *jsonWalk) walk(steps []pathStep, at string) (bool, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return false, w.syntax(err)
	}
	if len(steps) == 0 {
		return true, w.take(tok, at)
	}
	st := steps[0]
	d, _ := tok.(json.Delim)
	switch {
	case st.index == -1 && d == '{':
		found := false
		for w.dec.More() {
			k, err := w.dec.Token()
			if err != nil {
				return false, w.syntax(err)
			}
			if k == st.name && !found {
				f, err := w.walk(steps[1:], at+"."+st.name)
				if err != nil {
					return false, err
				}
				found = f
				continue
			}
			if err := w.skip(); err != nil {
				return false, err
			}
		}
		return found, w.close()
	case st.index != -1 && d == '[':
		found := false
		child := at + "[*]" // built once: messages only
		if st.index >= 0 {
			child = at + "[" + strconv.Itoa(st.index) + "]"
		}
		for i := 0; w.dec.More(); i++ {
			if st.index == -2 || st.index == i {
				f, err := w.walk(steps[1:], child)
				if err != nil {
					return false, err
				}
				found = found || f
				continue
			}
			if err := w.skip(); err != nil {
				return false, err
			}
		}
		return found, w.close()
	}
	// The step does not apply to this value: nothing selected here.
	if d == '{' || d == '[' {
		if err := w.skipRest(); err != nil {
			return false, err
		}
	}
	return false, nil
}

// take takes the value starting with tok as entries: a string, or an
// array of strings.
func (w *jsonWalk) take(tok json.Token, at string) error {
	switch v := tok.(type) {
	case string:
		w.entry(v)
		return nil
	case json.Delim:
		if v != '[' {
			w.n++
			w.b.bad(pos{n: w.n, entry: true}, "%s is an object, not a string or a list of strings", at)
			return w.skipRest()
		}
		for w.dec.More() {
			t, err := w.dec.Token()
			if err != nil {
				return w.syntax(err)
			}
			if s, ok := t.(string); ok {
				w.entry(s)
				continue
			}
			w.n++
			w.b.bad(pos{n: w.n, entry: true}, "%s holds a %s, not a string", at, jsonKind(t))
			if d, ok := t.(json.Delim); ok && (d == '[' || d == '{') {
				if err := w.skipRest(); err != nil {
					return err
				}
			}
		}
		return w.close()
	}
	w.n++
	w.b.bad(pos{n: w.n, entry: true}, "%s is a %s, not a string", at, jsonKind(tok))
	return nil
}

func (w *jsonWalk) entry(s string) {
	w.n++
	if w.n&0xfff == 0 && w.ctx.Err() != nil {
		return
	}
	if s = strings.TrimSpace(s); s != "" {
		w.b.add(pos{n: w.n, entry: true}, s)
	}
}

func jsonKind(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '[' {
			return "list"
		}
		return "object"
	case bool:
		return "boolean"
	case float64, json.Number:
		return "number"
	case nil:
		return "null"
	}
	return "value"
}

// close reads the ']' or '}' that ends the value being read.
func (w *jsonWalk) close() error {
	if _, err := w.dec.Token(); err != nil {
		return w.syntax(err)
	}
	return nil
}

// skip reads past one value.
func (w *jsonWalk) skip() error {
	t, err := w.dec.Token()
	if err != nil {
		return w.syntax(err)
	}
	if d, ok := t.(json.Delim); ok && (d == '[' || d == '{') {
		return w.skipRest()
	}
	return nil
}

// skipRest reads to the end of the array or object just opened.
func (w *jsonWalk) skipRest() error {
	depth := 1
	for depth > 0 {
		t, err := w.dec.Token()
		if err != nil {
			return w.syntax(err)
		}
		if d, ok := t.(json.Delim); ok {
			if d == '[' || d == '{' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}
