package codec

import (
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// SampleRateMember is the JSON member a sampled record carries: the
// probability it was kept with (its counters are scaled by the inverse).
const SampleRateMember = "flowsieve_sample_rate"

// ScaledFields are the counters a sampled flow's record scales: each kept
// record stands for 1/rate records, so these sum to the right totals.
// Gauges (tcp_*, num_process_*) and identifiers are left alone.
var ScaledFields = [...]Field{
	NumFlows, NumFlowsStarted, NumFlowsCompleted,
	PacketsIn, PacketsOut, BytesIn, BytesOut,
	HTTPRequestsAllowedIn, HTTPRequestsDeniedIn,
	TransitBytesIn, TransitBytesOut, TransitPacketsIn, TransitPacketsOut,
}

// scaledMask has bit id set for every field of ScaledFields.
var scaledMask = func() (m uint64) {
	for _, id := range ScaledFields {
		m |= 1 << id
	}
	return m
}()

// Scale says how a sampled flow's counters are written.
type Scale struct {
	// Rate is the probability the flow was kept with, in (0, 1]. 0 and 1
	// both mean the flow was not sampled: nothing is scaled.
	Rate float64
	// Dither, in [0, 1), rounds a scaled counter: n/Rate is rounded up
	// when its fraction exceeds Dither, down otherwise. With Dither
	// uniform (a hash of the flow) the written integers sum, in
	// expectation, to the exact n/Rate, where plain rounding would bias
	// every total at a rate whose inverse is not a whole number.
	Dither float64
}

// Sampled reports whether s scales anything.
func (s Scale) Sampled() bool { return s.Rate > 0 && s.Rate < 1 }

// Int scales one counter (see Dither); a result beyond int64 saturates.
func (s Scale) Int(n int64) int64 {
	if !s.Sampled() {
		return n
	}
	x := float64(n) / s.Rate
	switch {
	case x >= math.MaxInt64:
		return math.MaxInt64
	case x <= math.MinInt64:
		return math.MinInt64
	}
	fl := math.Floor(x)
	r := int64(fl)
	if x-fl > s.Dither {
		r++
	}
	return r
}

// AppendRate appends the rate as a JSON number (and header value): the
// shortest text that reads back as the same float64.
func (s Scale) AppendRate(dst []byte) []byte {
	return strconv.AppendFloat(dst, s.Rate, 'g', -1, 64)
}

// Output says how kept records are written: as they came, or as JSON with
// some members only. The zero Output writes every record as it came.
type Output struct {
	// Fields, when not nil, selects the members written; the record is
	// then written as JSON whatever its input form.
	Fields *Projection
	// JSON writes every record as JSON (normalised) rather than as it came.
	JSON bool
}

// Verbatim reports whether a record kept with scale s is written as its
// input bytes, unchanged: a caller can then skip Append and its copy.
func (o Output) Verbatim(s Scale) bool { return o.Fields == nil && !o.JSON && !s.Sampled() }

// Append appends the kept record f, decoded from raw, as o writes it, with
// its counters scaled by s.
//
// Written as it came (no Fields, not JSON), a sampled record keeps its
// form: a text record's counter columns and a JSON record's counter
// members are replaced with the scaled numbers, every other byte stays,
// and a JSON record gains a flowsieve_sample_rate member before its
// closing brace (or has that member's value multiplied, if it was
// sampled before). Written as JSON, the member is added after the others
// unless the projection leaves it out: an include list must name it,
// "-flowsieve_sample_rate" removes it.
//
// A counter is scaled only when it is an integer; JSON duplicates of a
// counter member (the decoder keeps the last) are left as written but for
// the last. Append allocates nothing once dst has room for the record.
func (o Output) Append(dst, raw []byte, f *Flow, s Scale) []byte {
	if o.Fields == nil && !o.JSON {
		switch {
		case !s.Sampled():
			return append(dst, raw...)
		case f.format == FormatText:
			return appendScaledText(dst, raw, s)
		case f.format == FormatJSON:
			if out, ok := appendScaledJSON(dst, raw, f, s); ok {
				return out
			}
		}
	}
	return appendProjected(dst, f, o.Fields, s)
}

// appendScaledText writes a text record with its counter columns scaled.
// It walks the columns as the decoder does (blanks at the ends trimmed,
// runs of spaces and tabs between columns) and copies every byte that is
// not a counter.
func appendScaledText(dst, raw []byte, s Scale) []byte {
	end := len(raw)
	for end > 0 && isBlank(raw[end-1]) {
		end--
	}
	i, col := 0, 0
	for i < end && isBlank(raw[i]) {
		i++
	}
	dst = append(dst, raw[:i]...)
	for i < end {
		if isSep(raw[i]) {
			dst = append(dst, raw[i])
			i++
			continue
		}
		j := i
		for j < end && !isSep(raw[j]) {
			j++
		}
		if col < len(textColumns) && scaledMask>>textColumns[col].field&1 != 0 {
			if n, ok := parseInt(raw[i:j]); ok {
				dst = appendInt(dst, s.Int(n))
				i, col = j, col+1
				continue
			}
		}
		dst = append(dst, raw[i:j]...)
		i, col = j, col+1
	}
	return append(dst, raw[end:]...)
}

// splice is one replacement of raw[off:end] in appendScaledJSON.
type splice struct {
	off, end int
	n        int64   // the scaled counter
	rate     float64 // or, when not 0, the combined sample rate
}

// appendScaledJSON writes a JSON record as it came with its counters
// scaled. ok is false when a counter's text is not inside raw (a flow
// amended in code): the caller writes the flow from its fields instead.
func appendScaledJSON(dst, raw []byte, f *Flow, s Scale) (_ []byte, ok bool) {
	var sp [len(ScaledFields) + 1]splice
	n := 0
	for _, id := range ScaledFields {
		v := &f.vals[id]
		if v.Kind != KindNumber || !v.IsInt {
			continue
		}
		off, in := offsetIn(raw, v.Str)
		if !in {
			return dst, false
		}
		sp[n] = splice{off: off, end: off + len(v.Str), n: s.Int(v.Int)}
		n++
	}
	rate := s.Rate
	prior, hasPrior := f.Lookup(SampleRateMember)
	if hasPrior && prior.Kind == KindNumber {
		off, in := offsetIn(raw, prior.Str)
		if !in {
			return dst, false
		}
		if p, err := strconv.ParseFloat(prior.Str, 64); err == nil && p > 0 && p <= 1 {
			rate *= p
		}
		sp[n] = splice{off: off, end: off + len(prior.Str), rate: rate}
		n++
	}
	// Insertion sort by offset: a dozen entries at most.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && sp[j].off < sp[j-1].off; j-- {
			sp[j], sp[j-1] = sp[j-1], sp[j]
		}
	}
	at := 0
	for _, x := range sp[:n] {
		dst = append(dst, raw[at:x.off]...)
		if x.rate != 0 {
			dst = Scale{Rate: x.rate}.AppendRate(dst)
		} else {
			dst = appendInt(dst, x.n)
		}
		at = x.end
	}
	if hasPrior && prior.Kind == KindNumber {
		return append(dst, raw[at:]...), true
	}
	// The record's closing brace is its last non-blank byte.
	end := len(raw)
	for end > 0 && raw[end-1] != '}' {
		end--
	}
	if end == 0 || end-1 < at {
		return dst, false
	}
	dst = append(dst, raw[at:end-1]...)
	if !emptyObject(raw[:end-1]) {
		dst = append(dst, ',')
	}
	dst = append(dst, `"`+SampleRateMember+`":`...)
	dst = s.AppendRate(dst)
	return append(dst, raw[end-1:]...), true
}

// emptyObject reports whether b, a JSON object without its closing brace,
// has no members yet.
func emptyObject(b []byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
		case '{':
			return true
		default:
			return false
		}
	}
	return true
}

// offsetIn returns where s, a substring of b, starts in b.
func offsetIn(b []byte, s string) (int, bool) {
	if len(b) == 0 || len(s) == 0 {
		return 0, false
	}
	off := int(uintptr(unsafe.Pointer(unsafe.StringData(s))) - uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	return off, off >= 0 && off+len(s) <= len(b)
}

// Projection selects the members of a record to write: a list of members
// to keep, or one to remove, each a top-level member or a member nested in
// objects. The zero Projection is not valid; use NewProjection.
type Projection struct {
	exclude bool
	fields  [NumFields]*projNode
	extras  []projKid // top-level members the model does not know
}

// projNode is one listed member: listed itself (whole), or holding listed
// members of its object value (kids).
type projNode struct {
	whole bool
	kids  []projKid
}

type projKid struct {
	key  string
	node *projNode
}

func (n *projNode) add(path []string) {
	if n.whole {
		return
	}
	if len(path) == 0 {
		n.whole, n.kids = true, nil
		return
	}
	for i := range n.kids {
		if n.kids[i].key == path[0] {
			n.kids[i].node.add(path[1:])
			return
		}
	}
	k := &projNode{}
	k.add(path[1:])
	n.kids = append(n.kids, projKid{key: path[0], node: k})
}

func (n *projNode) find(q string) *projNode {
	for i := range n.kids {
		if keyEquals(q, n.kids[i].key) {
			return n.kids[i].node
		}
	}
	return nil
}

// NewProjection compiles a list of member paths: with exclude false, the
// members kept (every other one is left out); with exclude true, the
// members removed. A path is a list of member names, the first a
// top-level member (a Calico field name, or any other key; felix's
// startTime/endTime name start_time/end_time), the rest members of
// objects nested in it. A path that names a member inside a value that is
// not an object selects nothing there. Listing a member and a member
// inside it selects the member whole.
func NewProjection(exclude bool, paths [][]string) (*Projection, error) {
	if len(paths) == 0 {
		return nil, errors.New("no fields listed")
	}
	p := &Projection{exclude: exclude}
	extras := projNode{}
	for _, path := range paths {
		if len(path) == 0 || path[0] == "" {
			return nil, errors.New("empty field name")
		}
		if e, ok := lookupKey(path[0]); ok {
			if p.fields[e.field] == nil {
				p.fields[e.field] = &projNode{}
			}
			p.fields[e.field].add(path[1:])
			continue
		}
		extras.add(path)
	}
	p.extras = extras.kids
	return p, nil
}

// Exclude reports whether the projection lists members to remove.
func (p *Projection) Exclude() bool { return p.exclude }

// extra returns the node listing top-level member key, nil if unlisted.
func (p *Projection) extra(key string) *projNode {
	for i := range p.extras {
		if p.extras[i].key == key {
			return p.extras[i].node
		}
	}
	return nil
}

// appendProjected writes f as one JSON object (AppendJSON's order and
// text) with p's members only (p nil: all) and its counters scaled by s.
func appendProjected(dst []byte, f *Flow, p *Projection, s Scale) []byte {
	dst = append(dst, '{')
	start := len(dst)
	sampled := s.Sampled()
	rateDone := !sampled
	member := func(dst []byte, id Field) []byte {
		v := &f.vals[id]
		if v.Kind == KindAbsent {
			return dst
		}
		var node *projNode
		if p != nil {
			node = p.fields[id]
		}
		if sampled && v.Kind == KindNumber && v.IsInt && scaledMask>>id&1 != 0 {
			if !p.keepsWhole(node) {
				return dst
			}
			dst = f.appendName(dst, start, id)
			return appendInt(dst, s.Int(v.Int))
		}
		if p.keepsWhole(node) {
			dst = f.appendName(dst, start, id)
			if f.pending>>id&1 != 0 {
				return appendLabelsJSON(dst, f.Labels(id))
			}
			return appendValue(dst, v)
		}
		if !p.keepsPart(node) {
			return dst
		}
		mark := len(dst)
		dst = f.appendName(dst, start, id)
		return p.appendPart(dst, mark, f.Get(id), node)
	}
	extra := func(dst []byte, m *Member) []byte {
		if m.Value.Kind == KindAbsent {
			return dst
		}
		var node *projNode
		if p != nil {
			node = p.extra(m.Key)
		}
		if m.Key == SampleRateMember && sampled {
			// Sampled before: the record now stands for more flows.
			rateDone = true
			if !p.keepsWhole(node) {
				return dst
			}
			rate := s.Rate
			if m.Value.Kind == KindNumber {
				if prior, err := strconv.ParseFloat(m.Value.Str, 64); err == nil && prior > 0 && prior <= 1 {
					rate *= prior
				}
			}
			dst = appendMemberName(dst, start, m.Key)
			return Scale{Rate: rate}.AppendRate(dst)
		}
		if p.keepsWhole(node) {
			return appendMember(dst, start, m.Key, &m.Value)
		}
		if !p.keepsPart(node) {
			return dst
		}
		mark := len(dst)
		dst = appendMemberName(dst, start, m.Key)
		return p.appendPart(dst, mark, &m.Value, node)
	}
	if f.format == FormatJSON {
		for _, o := range f.order {
			if o < uint32(NumFields) {
				dst = member(dst, Field(o))
			} else {
				dst = extra(dst, &f.extra[o-uint32(NumFields)])
			}
		}
	} else {
		for _, id := range felixOrder {
			dst = member(dst, id)
		}
		for i := range f.extra {
			dst = extra(dst, &f.extra[i])
		}
	}
	if !rateDone && (p == nil || p.keepsWhole(p.extra(SampleRateMember))) {
		dst = appendMemberName(dst, start, SampleRateMember)
		dst = s.AppendRate(dst)
	}
	return append(dst, '}')
}

// keepsWhole reports whether a member listed as node (nil: not listed) is
// written as it is.
func (p *Projection) keepsWhole(node *projNode) bool {
	if p == nil {
		return true
	}
	if p.exclude {
		return node == nil
	}
	return node != nil && node.whole
}

// keepsPart reports whether some members inside a member listed as node
// are written (and others not).
func (p *Projection) keepsPart(node *projNode) bool {
	return node != nil && !node.whole
}

// appendPart writes v, a member's value whose name is already written
// (from mark on), keeping or removing node's members inside it. A value
// that is not an object is written whole when removing, and not at all
// (its name taken back) when keeping; so is an object left with nothing
// to keep.
func (p *Projection) appendPart(dst []byte, mark int, v *Value, node *projNode) []byte {
	if v.Kind != KindObject {
		if p.exclude {
			return appendValue(dst, v)
		}
		return dst[:mark]
	}
	out, kept := p.appendObject(dst, v.Str, node)
	if kept == 0 && !p.exclude {
		return dst[:mark]
	}
	return out
}

// appendObject writes the object text obj with node's members kept or
// removed, and returns how many members it wrote.
func (p *Projection) appendObject(dst []byte, obj string, node *projNode) ([]byte, int) {
	dst = append(dst, '{')
	kept := 0
	i := skipWS(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		ke := stringEnd(obj, i)
		key := obj[i:ke]
		j := skipWS(obj, ke)
		j = skipWS(obj, j+1) // ':'
		ve := valueEnd(obj, j)
		val := obj[j:ve]
		i = skipWS(obj, ve)
		if i < len(obj) && obj[i] == ',' {
			i = skipWS(obj, i+1)
		}
		k := node.find(key)
		var whole, part bool
		if p.exclude {
			whole, part = k == nil, k != nil && !k.whole
		} else {
			whole, part = k != nil && k.whole, k != nil && !k.whole
		}
		if !whole && !part {
			continue
		}
		mark := len(dst)
		if kept > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, key...)
		dst = append(dst, ':')
		if whole {
			dst = append(dst, val...)
			kept++
			continue
		}
		if len(val) == 0 || val[0] != '{' {
			if p.exclude {
				dst = append(dst, val...)
				kept++
			} else {
				dst = dst[:mark]
			}
			continue
		}
		var n int
		dst, n = p.appendObject(dst, val, k)
		if n == 0 && !p.exclude {
			dst = dst[:mark]
			continue
		}
		kept++
	}
	return append(dst, '}'), kept
}

// appendName writes the member name of a known field (with the comma
// before it, unless it is the first member after start).
func (f *Flow) appendName(dst []byte, start int, id Field) []byte {
	if len(dst) > start {
		dst = append(dst, ',')
	}
	switch {
	case id == StartTime && f.alias&aliasStart != 0:
		return append(dst, `"startTime":`...)
	case id == EndTime && f.alias&aliasEnd != 0:
		return append(dst, `"endTime":`...)
	}
	return append(dst, memberPrefix[id]...)
}

func appendMemberName(dst []byte, start int, key string) []byte {
	if len(dst) > start {
		dst = append(dst, ',')
	}
	dst = AppendJSONString(dst, key)
	return append(dst, ':')
}
