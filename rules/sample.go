package rules

import (
	"container/list"
	"encoding/binary"
	"math"
	"math/bits"
	"strings"
	"time"
	"unsafe"

	"github.com/flowsieve/flowsieve/codec"
)

// Sampling
//
// A sample filter keeps a flow with probability rate; a cap filter keeps a
// key's flows whole up to max_per_sec a second and samples the rest at
// the rate that holds the cap. Either way the choice is the flow's unit
// value u = FlowUnit(f) < rate: u is a hash of the flow's identifying
// fields, so the choice is the same in every process and every version,
// and the two records of one flow (reported by its source and by its
// destination) are kept or dropped together. Several sample or cap
// filters compose: a flow is kept while u < the smallest rate so far, and
// that smallest rate is the probability it was kept with (Verdict.Rate),
// by which its counters are scaled (codec.Scale) so totals stay right.

// identity lists the fields FlowHash reads, in order. reporter is not one
// of them: it is what differs between the source's and the destination's
// record of the same flow. Names are the aggregated names felix always
// writes (source_name_aggr), or source_name where a record lacks those.
var identity = [...]codec.Field{
	codec.SourceType, codec.SourceNamespace, codec.SourceNameAggr, codec.SourceIP, codec.SourcePort,
	codec.DestType, codec.DestNamespace, codec.DestNameAggr, codec.DestIP, codec.DestPort,
	codec.Proto, codec.StartTime,
}

// FlowHash hashes the identifying fields of a flow. It is part of the
// rule file's contract, stable across processes and versions: changing it
// would change which flows a sample keeps (a test pins it). Each field of
// identity, in order, adds 64-bit words:
//
//	absent, null, or not of the field's type   0
//	source_ip/dest_ip                          1, then the 16-byte address (IPv4 as ::ffff:a.b.c.d) as two big-endian words
//	integers (ports, start_time), proto        2, then the integer (proto: its IANA number; a name the codec does not know hashes as a string)
//	strings                                    3 + 256 × length, then the bytes as little-endian words, the last padded with zero bytes
//
// The state h starts at 0 and takes each word w as
// h = rotl64(h ^ w×0x9E3779B97F4A7C15, 31) × 0xBF58476D1CE4E5B9; the hash
// is SplitMix64's finaliser of h. Words rather than bytes: the hash runs
// on every flow a sample or cap filter matches. A text record and its JSON
// form hash the same (proto 6 and "tcp" alike).
func FlowHash(f *codec.Flow) uint64 {
	var h uint64
	for _, id := range identity {
		v := f.Get(id)
		if id == codec.SourceNameAggr || id == codec.DestNameAggr {
			if v.Kind != codec.KindString {
				v = f.Get(id - 1) // source_name/dest_name
			}
		}
		switch {
		case id == codec.SourceIP || id == codec.DestIP:
			a, ok := f.Addr(id)
			if !ok {
				h = fold(h, 0)
				continue
			}
			b := a.As16()
			h = fold(fold(fold(h, 1), binary.BigEndian.Uint64(b[:8])), binary.BigEndian.Uint64(b[8:]))
		case id == codec.Proto:
			switch {
			case v.Kind == codec.KindNumber && v.IsInt,
				v.Kind == codec.KindString && (v.Int != 0 || v.Str == "0" || strings.EqualFold(v.Str, codec.ProtoName(0))):
				h = fold(fold(h, 2), uint64(v.Int))
			case v.Kind == codec.KindString: // a name the codec does not know
				h = foldString(h, v.Str)
			default:
				h = fold(h, 0)
			}
		case v.Kind == codec.KindNumber && v.IsInt && id.Type() == codec.TypeInt:
			h = fold(fold(h, 2), uint64(v.Int))
		case v.Kind == codec.KindString && id.Type() == codec.TypeString:
			h = foldString(h, v.Str)
		default:
			h = fold(h, 0)
		}
	}
	return mix64(h)
}

// FlowUnit maps a FlowHash to [0, 1): the top 53 bits as a fraction.
func FlowUnit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// dither is a second uniform value from the same hash, for rounding scaled
// counters (codec.Scale.Dither): independent of the keep decision.
func dither(h uint64) float64 { return FlowUnit(mix64(h ^ 0x9e3779b97f4a7c15)) }

// fold adds one word to a FlowHash state.
func fold(h, w uint64) uint64 {
	return bits.RotateLeft64(h^w*0x9e3779b97f4a7c15, 31) * 0xbf58476d1ce4e5b9
}

// foldString adds a string: its length word, then its bytes eight at a
// time (little-endian, the last word padded with zeros).
func foldString(h uint64, s string) uint64 {
	h = fold(h, 3+uint64(len(s))<<8)
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for len(b) >= 8 {
		h = fold(h, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) > 0 {
		var w [8]byte
		copy(w[:], b)
		h = fold(h, binary.LittleEndian.Uint64(w[:]))
	}
	return h
}

// mix64 is SplitMix64's finaliser, so that every input bit reaches the
// high bits the keep decision reads.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Sample is one sample or cap filter a flow reached and matched.
type Sample struct {
	Rule int // index into Set.Filters
	// Rate is the probability this filter kept the flow with, given that
	// it reached it: an estimate of what the filter saw scales a kept
	// flow's counters by 1/Rate.
	Rate float64
	Kept bool
	// Evicted is set when a cap filter forgot its least recently seen key
	// to make room for this flow's (max_keys).
	Evicted bool
}

// sampleKeep is the decision of one sample or cap filter: a flow with unit
// value u that earlier filters kept with probability prior is kept with
// probability rate, so from then on with probability min(prior, rate)
// (same u: the rates nest). cond is the conditional rate (of the flows
// that reached the filter, the share it keeps).
func sampleKeep(u, prior, rate float64) (kept bool, now, cond float64) {
	now = min(prior, rate)
	return u < now, now, now / prior
}

// capRate is the rate a cap filter applies to the next flow of a key that
// has seen cur flows in the current second and prev in the one before:
// whole (1) while neither reaches max, then max over the larger count,
// this flow included. In a steady flood last second's count sets the rate
// from the second's first flow, so about max are kept each second; in the
// first second of a flood the first max are kept whole and the rate falls
// as the count grows.
func capRate(max float64, prev, cur int64) float64 {
	n := float64(max64(prev, cur+1))
	if n <= max {
		return 1
	}
	return max / n
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// Caps holds the per-key counts cap filters keep between flows. It is
// owned by one goroutine (one per input partition), so no lock is taken:
// a cap therefore holds per partition. Give each Verdict its own (see
// Verdict.Caps); one made lazily uses the wall clock.
type Caps struct {
	now    func() time.Time
	set    *Set
	tables map[string]*capTable // by rule name
	key    []byte
}

// NewCaps makes cap state that reads the time from now (time.Now if nil).
func NewCaps(now func() time.Time) *Caps {
	if now == nil {
		now = time.Now
	}
	return &Caps{now: now, tables: map[string]*capTable{}}
}

type capTable struct {
	maxKeys int
	keys    map[string]*list.Element
	lru     list.List // of *capEntry, most recently seen first
}

type capEntry struct {
	key       string
	sec       int64
	cur, prev int64
}

// roll brings e's counts to second sec.
func (e *capEntry) roll(sec int64) {
	switch {
	case sec == e.sec:
	case sec == e.sec+1:
		e.prev, e.cur = e.cur, 0
	case sec > e.sec+1:
		e.prev, e.cur = 0, 0
	default:
		return // the clock stepped back: count on in the newer second
	}
	e.sec = sec
}

// rate counts one flow of f's key under cap filter r and returns the rate
// it is sampled at; evicted reports a key forgotten to make room.
func (c *Caps) rate(s *Set, r *filterRule, f *codec.Flow) (rate float64, evicted bool) {
	if c.set != s {
		c.prune(s)
	}
	t := c.tables[r.Name]
	if t == nil || t.maxKeys != r.maxKeys {
		t = &capTable{maxKeys: r.maxKeys, keys: map[string]*list.Element{}}
		c.tables[r.Name] = t
	}
	c.key = c.key[:0]
	for _, id := range r.per {
		v := f.Get(id)
		c.key = append(c.key, byte(v.Kind))
		c.key = binary.BigEndian.AppendUint32(c.key, uint32(len(v.Str)))
		c.key = append(c.key, v.Str...)
	}
	sec := c.now().Unix()
	el := t.keys[string(c.key)]
	if el == nil {
		if t.lru.Len() >= t.maxKeys {
			old := t.lru.Back()
			delete(t.keys, old.Value.(*capEntry).key)
			t.lru.Remove(old)
			evicted = true
		}
		e := &capEntry{key: string(c.key), sec: sec}
		el = t.lru.PushFront(e)
		t.keys[e.key] = el
	} else {
		t.lru.MoveToFront(el)
	}
	e := el.Value.(*capEntry)
	e.roll(sec)
	rate = capRate(r.maxPerSec, e.prev, e.cur)
	e.cur++
	return rate, evicted
}

// prune forgets the tables of cap filters s no longer has.
func (c *Caps) prune(s *Set) {
	c.set = s
	for name := range c.tables {
		found := false
		for i := range s.filters {
			if s.filters[i].kind == actionCap && s.filters[i].Name == name {
				found = true
				break
			}
		}
		if !found {
			delete(c.tables, name)
		}
	}
}

// Keys returns how many keys the cap filter named rule tracks.
func (c *Caps) Keys(rule string) int {
	if t := c.tables[rule]; t != nil {
		return t.lru.Len()
	}
	return 0
}

// Scale is how the counters of a kept flow are written: scaled by
// 1/Rate, rounded with a dither from the flow's hash.
func (v *Verdict) Scale() codec.Scale {
	if v.Rate >= 1 || v.Rate <= 0 {
		return codec.Scale{}
	}
	return codec.Scale{Rate: v.Rate, Dither: v.dither}
}

// validRate reports whether a sample rate is usable: in (0, 1].
func validRate(r float64) bool { return r > 0 && r <= 1 && !math.IsNaN(r) }

// SampleTotals sums what one sample or cap filter saw and kept, with the
// bytes (bytes_in + bytes_out) of the flows it saw beside its estimate of
// them from the flows it kept, each scaled by 1/Sample.Rate: the two
// should agree within sampling error.
type SampleTotals struct {
	Seen, Kept  int64
	TrueBytes   int64
	ScaledBytes float64
}

// Add counts f, which reached and matched the filter with outcome smp.
func (t *SampleTotals) Add(f *codec.Flow, smp Sample) {
	b := FlowBytes(f)
	t.Seen++
	t.TrueBytes += b
	if smp.Kept {
		t.Kept++
		t.ScaledBytes += float64(b) / smp.Rate
	}
}

// ErrorPercent is the estimate's error relative to the truth, in percent
// (0 when there were no bytes).
func (t *SampleTotals) ErrorPercent() float64 {
	if t.TrueBytes == 0 {
		return 0
	}
	return 100 * (t.ScaledBytes - float64(t.TrueBytes)) / float64(t.TrueBytes)
}

// FlowBytes is a flow's bytes_in + bytes_out, the integer ones.
func FlowBytes(f *codec.Flow) int64 {
	var n int64
	for _, id := range [...]codec.Field{codec.BytesIn, codec.BytesOut} {
		if v := f.Get(id); v.Kind == codec.KindNumber && v.IsInt {
			n += v.Int
		}
	}
	return n
}
