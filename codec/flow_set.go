package codec

import (
	"math/bits"
	"net/netip"
	"unsafe"
)

// Set stores a known field, deriving its typed views (address, labels,
// protocol number) as the decoders do. Str must be JSON text for every Kind
// but KindString. It is for building or amending flows in code, not for the
// hot path. The strings must stay valid as long as f is used.
func (f *Flow) Set(id Field, v Value) {
	if f.format == FormatJSON && f.vals[id].Kind == KindAbsent && v.Kind != KindAbsent && !f.inOrder(uint32(id)) {
		f.order = append(f.order, uint32(id))
	}
	f.pending &^= 1 << id
	f.put(id, v)
	switch id {
	case SourceIP, DestIP, SourceLabels, DestLabels, Proto:
		b := unsafe.Slice(unsafe.StringData(v.Str), len(v.Str))
		f.typeField(id, b, 0)
	}
}

// SetAddr stores SourceIP or DestIP from an address.
func (f *Flow) SetAddr(id Field, a netip.Addr) {
	if id != SourceIP && id != DestIP {
		return
	}
	if !a.IsValid() {
		f.Set(id, Value{})
		return
	}
	f.Set(id, Value{Str: a.String(), Kind: KindString})
}

// SetExtra stores a member the model does not know, replacing one with the
// same key.
func (f *Flow) SetExtra(key string, v Value) {
	f.setExtra(key, v, f.format == FormatJSON)
}

func (f *Flow) inOrder(o uint32) bool {
	for _, x := range f.order {
		if x == o {
			return true
		}
	}
	return false
}

// Equal reports whether f and g hold the same record: the same fields with
// the same kinds and values, the same typed views and the same extras (in
// any order). The wire form they came from does not matter, so a text record
// equals its JSON encoding decoded again.
func (f *Flow) Equal(g *Flow) bool {
	f.renderAll()
	g.renderAll()
	if f.vals != g.vals || f.srcIP != g.srcIP || f.dstIP != g.dstIP {
		return false
	}
	if !labelsEqual(f.srcLabels, g.srcLabels) || !labelsEqual(f.dstLabels, g.dstLabels) {
		return false
	}
	if len(f.extra) != len(g.extra) {
		return false
	}
	for _, m := range f.extra {
		v, ok := g.Lookup(m.Key)
		if !ok || v != m.Value {
			return false
		}
	}
	return true
}

func labelsEqual(a, b []Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (f *Flow) renderAll() {
	for m := f.pending; m != 0; m &= m - 1 {
		f.render(Field(bits.TrailingZeros64(m)))
	}
}
