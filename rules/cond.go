package rules

import (
	"net/netip"
	"strconv"

	"github.com/gaissmai/bart"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/ruby"
)

// A condition evaluates to one of three results. resError exists for
// fluentd compatibility: fluentd's grep wraps all of a filter's checks in
// one rescue, so a check that raises (record_accessor digging into a string)
// ends the filter and keeps the record.
const (
	resFalse int8 = 0
	resTrue  int8 = 1
	resError int8 = -1
)

type nodeOp uint8

const (
	opAll nodeOp = iota
	opAny
	opNot
	opLeaf
)

// node is one compiled condition. all/any evaluate their children left to
// right and stop at the first that decides (fluentd's any?/all?/none? do the
// same, which matters because an error only counts when it is reached).
type node struct {
	op   nodeOp
	leaf leaf   // opLeaf; inline, one pointer less to follow per test
	kids []node // contiguous: the tests of a rule sit together in memory
}

func (n *node) eval(f *codec.Flow, st *evalState) int8 {
	switch n.op {
	case opLeaf:
		r := n.leaf.eval(f, st)
		if n.leaf.agg != 0 && r != resTrue && emptied(f, n.leaf.field) {
			st.blind |= n.leaf.agg
		}
		return r
	case opNot:
		switch r := n.kids[0].eval(f, st); r {
		case resTrue:
			return resFalse
		case resFalse:
			return resTrue
		default:
			return r
		}
	case opAll:
		for i := range n.kids {
			if r := n.kids[i].eval(f, st); r != resTrue {
				return r
			}
		}
		return resTrue
	default: // opAny
		for i := range n.kids {
			if r := n.kids[i].eval(f, st); r != resFalse {
				return r
			}
		}
		return resFalse
	}
}

// evalState is per-goroutine scratch, kept in the Verdict.
type evalState struct {
	buf         []byte // rendering of values (fluentd's to_s, unescaped JSON strings)
	tmp         codec.Value
	witness     *leaf // the leaf that made a threat rule match, for the Hit
	witnessAddr netip.Addr
	blind       uint8 // bits of aggregated: fields found empty by the threat rule being judged
}

type leafKind uint8

const (
	kNone      leafKind = iota
	kString             // regex, equals, prefix, suffix, contains, in
	kCIDR               // cidr
	kFeed               // in_feed
	kNumber             // range, gt, ge, lt, le
	kAbsent             // absent: true / false
	kLabelHas           // label: key
	kLabelEq            // label: {k: v, ...}
	kLabelStr           // label: key plus a string test on its value
	kRuby               // compat: fluentd, a regex on Ruby's to_s of the value
	kFluentBit          // compat: fluent-bit, a regex on string values only
)

// valueMode is how a rule's values are rendered for string tests. It is per
// rule, so imported filters keep the semantics of the tool they came from.
type valueMode uint8

const (
	modeNative    valueMode = iota // strings, numbers and booleans as written; each scalar of an array or object
	modeFluentd                    // Ruby's to_s of the value (ruby.ToS); errors keep the record
	modeFluentBit                  // only string values match; no conversion, no errors
)

// leaf is one test. The fields judging reads come first, so they share a
// cache line with the node's op; what only compiling and reporting need
// comes last.
type leaf struct {
	kind     leafKind
	mode     valueMode
	field    codec.Field // NumFields when the value comes from an extra member
	direct   bool        // a known field without a path: the value is f.Get(field)
	nilKey   bool        // the accessor starts with an index ($[0]): always nil
	positive bool        // not under an odd number of nots: a match can explain a hit
	agg      uint8       // a threat rule's test on a field Calico empties: its bit in evalState.blind (blind.go)
	absent   bool        // kAbsent: true to match an absent/null value
	loInc    bool
	hiInc    bool
	hasLo    bool
	hasHi    bool
	sm       *strMatcher
	lo, hi   float64     // kNumber bounds
	prefix   *bart.Lite  // kCIDR
	feed     *feed       // kFeed
	path     []ruby.Step // record_accessor steps after the first key
	key      string      // the first accessor key when field == NumFields
	label    string
	labels   []codec.Label // kLabelEq
	feedName string        // kFeed, for the Hit
	reason   string        // "dest_ip in feed c2-sample", for the Hit
}

func (l *leaf) fieldID() codec.Field {
	if len(l.path) > 0 {
		return codec.NumFields
	}
	return l.field
}

func (l *leaf) noteWitness(st *evalState, a netip.Addr) {
	if !l.positive {
		return
	}
	// A feed match explains a threat better than whatever else held.
	if st.witness == nil || (l.kind == kFeed && st.witness.kind != kFeed) {
		st.witness, st.witnessAddr = l, a
	}
}

// value returns the value the leaf tests. bad reports a record_accessor
// step that Ruby's dig would raise on (digging into a string or number,
// or indexing an array with a name). The pointer is into f, or into st
// (valid until the next call).
func (l *leaf) value(f *codec.Flow, st *evalState) (v *codec.Value, bad bool) {
	if l.direct {
		return f.Get(l.field), false
	}
	st.tmp = codec.Value{}
	if l.field < codec.NumFields {
		st.tmp = *f.Get(l.field)
	} else if l.nilKey {
		st.tmp.Kind = codec.KindNull
		return &st.tmp, false
	} else if x, ok := f.Lookup(l.key); ok {
		st.tmp = x
	}
	if len(l.path) == 0 {
		return &st.tmp, false
	}
	st.tmp, bad = dig(st.tmp, l.path, &st.buf)
	return &st.tmp, bad
}

// dig follows record_accessor steps from v the way Ruby's Hash#dig does:
// nil along the way gives nil; a name on a Hash looks the member up; an
// index on an Array picks an element; an index on a Hash gives nil (JSON
// keys are strings); anything else (a name on an Array, any step into a
// string, number or boolean) raises TypeError, reported as bad. A string
// found inside JSON text is decoded into *buf.
func dig(v codec.Value, path []ruby.Step, buf *[]byte) (codec.Value, bool) {
	for _, p := range path {
		var t string
		var ok bool
		switch v.Kind {
		case codec.KindAbsent, codec.KindNull:
			return codec.Value{Kind: codec.KindNull}, false
		case codec.KindObject:
			if !p.IsIndex {
				t, ok = codec.JSONMember(v.Str, p.Key)
			}
		case codec.KindArray:
			if !p.IsIndex {
				return v, true
			}
			t, ok = codec.JSONElement(v.Str, p.Index)
		default:
			return v, true
		}
		if !ok {
			return codec.Value{Kind: codec.KindNull}, false
		}
		v = codec.ValueOfJSON(t, buf)
	}
	return v, false
}

// valueFluentBit returns the value a Fluent Bit grep rule tests, and
// whether it is a string (nothing else ever matches in Fluent Bit). Its
// record accessor ignores the subkeys of a top-level string; below the top
// level every subkey step must exist.
func (l *leaf) valueFluentBit(f *codec.Flow, st *evalState) (codec.Value, bool) {
	var v codec.Value
	if l.field < codec.NumFields {
		v = *f.Get(l.field)
	} else if l.nilKey {
		return v, false
	} else if x, ok := f.Lookup(l.key); ok {
		v = x
	}
	for i, p := range l.path {
		var t string
		var ok bool
		switch {
		case v.Kind == codec.KindString:
			// flb_ra_key ignores the subkeys of a top-level string, but a
			// string met below the top with a step left fails the lookup.
			return v, i == 0
		case v.Kind == codec.KindObject && !p.IsIndex:
			t, ok = codec.JSONMember(v.Str, p.Key)
		case v.Kind == codec.KindArray && p.IsIndex && p.Index >= 0:
			t, ok = codec.JSONElement(v.Str, p.Index)
		}
		if !ok {
			return v, false
		}
		v = codec.ValueOfJSON(t, &st.buf)
	}
	return v, v.Kind == codec.KindString
}

func (l *leaf) eval(f *codec.Flow, st *evalState) int8 {
	switch l.kind {
	case kRuby:
		v, bad := l.value(f, st)
		if bad {
			return resError
		}
		s, ok := ruby.ToS(*v, &st.buf)
		if !ok {
			return resError
		}
		if r := l.sm.match(s); r != resFalse {
			if r == resTrue {
				l.noteWitness(st, netip.Addr{})
			}
			return r
		}
		return resFalse
	case kFluentBit:
		v, ok := l.valueFluentBit(f, st)
		if !ok {
			return resFalse
		}
		if l.sm.match(v.Str) == resTrue {
			l.noteWitness(st, netip.Addr{})
			return resTrue
		}
		return resFalse
	case kString:
		var v *codec.Value
		if l.direct {
			v = f.Get(l.field)
		} else {
			var bad bool
			if v, bad = l.value(f, st); bad {
				return resFalse
			}
		}
		var ok bool
		switch v.Kind {
		case codec.KindString, codec.KindNumber, codec.KindBool:
			ok = l.sm.match(v.Str) == resTrue
		case codec.KindArray, codec.KindObject:
			ok = l.matchNative(v, st)
		}
		if ok {
			l.noteWitness(st, netip.Addr{})
			return resTrue
		}
		return resFalse
	case kCIDR, kFeed:
		tbl := l.prefix
		if l.kind == kFeed {
			if l.feed.dom != nil {
				return l.evalDomains(f, st)
			}
			tbl = l.feed.set
		}
		if len(l.path) == 0 && (l.field == codec.SourceIP || l.field == codec.DestIP) {
			a, ok := f.Addr(l.field)
			if ok && tbl.Contains(a) {
				l.noteWitness(st, a)
				return resTrue
			}
			return resFalse
		}
		v, bad := l.value(f, st)
		if bad {
			return resFalse
		}
		if a, ok := l.matchAddr(v, tbl, st); ok {
			l.noteWitness(st, a)
			return resTrue
		}
		return resFalse
	case kNumber:
		v, bad := l.value(f, st)
		if bad || v.Kind != codec.KindNumber {
			return resFalse
		}
		var x float64
		if v.IsInt {
			x = float64(v.Int)
		} else {
			var err error
			if x, err = strconv.ParseFloat(v.Str, 64); err != nil {
				return resFalse
			}
		}
		if l.hasLo && (x < l.lo || x == l.lo && !l.loInc) || l.hasHi && (x > l.hi || x == l.hi && !l.hiInc) {
			return resFalse
		}
		l.noteWitness(st, netip.Addr{})
		return resTrue
	case kAbsent:
		v, bad := l.value(f, st)
		gone := !bad && (v.Kind == codec.KindAbsent || v.Kind == codec.KindNull)
		if gone == l.absent {
			l.noteWitness(st, netip.Addr{})
			return resTrue
		}
		return resFalse
	case kLabelHas:
		if _, ok := f.Label(l.field, l.label); ok {
			l.noteWitness(st, netip.Addr{})
			return resTrue
		}
		return resFalse
	case kLabelStr:
		if val, ok := f.Label(l.field, l.label); ok && l.sm.match(val) == resTrue {
			l.noteWitness(st, netip.Addr{})
			return resTrue
		}
		return resFalse
	case kLabelEq:
		for _, want := range l.labels {
			if got, ok := f.Label(l.field, want.Key); !ok || got != want.Value {
				return resFalse
			}
		}
		l.noteWitness(st, netip.Addr{})
		return resTrue
	}
	return resFalse
}

// matchNative applies a string test under native semantics: strings as
// they are, numbers and booleans as written; arrays and objects match when
// any scalar inside them does; null and absent never match.
func (l *leaf) matchNative(v *codec.Value, st *evalState) bool {
	switch v.Kind {
	case codec.KindString, codec.KindNumber, codec.KindBool:
		return l.sm.match(v.Str) == resTrue
	case codec.KindArray, codec.KindObject:
		sc := codec.ScanJSONScalars(v.Str)
		for {
			s, ok := sc.Next(&st.buf)
			if !ok {
				return false
			}
			if l.sm.match(s) == resTrue {
				return true
			}
		}
	}
	return false
}

// evalDomains tests a value against a domain feed: a string, or each
// string of an array (dest_domains).
func (l *leaf) evalDomains(f *codec.Flow, st *evalState) int8 {
	v, bad := l.value(f, st)
	if bad {
		return resFalse
	}
	switch v.Kind {
	case codec.KindString:
		if l.feed.dom.Contains(v.Str) {
			l.noteWitness(st, netip.Addr{})
			return resTrue
		}
	case codec.KindArray:
		sc := codec.ScanJSONScalars(v.Str)
		for {
			s, ok := sc.Next(&st.buf)
			if !ok {
				break
			}
			if l.feed.dom.Contains(s) {
				l.noteWitness(st, netip.Addr{})
				return resTrue
			}
		}
	}
	return resFalse
}

// matchAddr tests a value that should hold addresses: a string, or an
// array of strings (original_source_ips).
func (l *leaf) matchAddr(v *codec.Value, tbl *bart.Lite, st *evalState) (netip.Addr, bool) {
	switch v.Kind {
	case codec.KindString:
		if a, err := netip.ParseAddr(v.Str); err == nil && tbl.Contains(a.Unmap()) {
			return a.Unmap(), true
		}
	case codec.KindArray:
		sc := codec.ScanJSONScalars(v.Str)
		for {
			s, ok := sc.Next(&st.buf)
			if !ok {
				break
			}
			if a, err := netip.ParseAddr(s); err == nil && tbl.Contains(a.Unmap()) {
				return a.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}
