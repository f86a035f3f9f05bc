package feeds

import (
	"iter"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"
)

// DomainSet is a set of domain names that matches a name and every name
// under it, as Calico matches DomainNameSet feeds: "evil.example" matches
// "evil.example" and "a.b.evil.example", not "notevil.example".
// Case is ignored (ASCII, as DNS does) and a trailing dot too.
//
// It is built once and read only. The names sit in one byte arena, each
// after its length byte, and an open-addressing hash table of arena
// offsets, each with 32 bits of its name's hash, finds them. A lookup
// hashes each suffix of the query that starts at a label
// ("a.b.evil.example", "b.evil.example", "evil.example", "example") and
// probes the table; the hash bits spare reading the arena except for the
// name itself, which is compared folding case as it is read, so a lookup
// allocates nothing. Memory is the names' bytes plus one byte each, plus 8
// to 16 bytes a name for the table (kept at most half full); a lookup
// costs one hash and probe per label of the query, whatever the set's size
// but for cache misses.
type DomainSet struct {
	arena []byte   // len byte, then the lower-cased name, per name
	slots []uint64 // arena offset + 1 in the low 32 bits, the hash's high 32 above; 0 is an empty slot
	mask  uint64
	n     int
}

// Len is the number of distinct names.
func (d *DomainSet) Len() int {
	if d == nil {
		return 0
	}
	return d.n
}

// Contains reports whether q or a domain it is under is in the set. q may
// carry upper case and a trailing dot.
func (d *DomainSet) Contains(q string) bool {
	_, ok := d.Match(q)
	return ok
}

// Match is Contains that also returns the listed name that matched, as a
// suffix of q (so it does not allocate).
func (d *DomainSet) Match(q string) (string, bool) {
	if d == nil || d.n == 0 {
		return "", false
	}
	q = strings.TrimSuffix(q, ".")
	for len(q) > 0 {
		if len(q) <= maxDomainLen && d.has(q) {
			return q, true
		}
		i := strings.IndexByte(q, '.')
		if i < 0 {
			return "", false
		}
		q = q[i+1:]
	}
	return "", false
}

func (d *DomainSet) has(s string) bool {
	h := hashFold(s)
	tag := h >> 32
	for i := h & d.mask; ; i = (i + 1) & d.mask {
		e := d.slots[i]
		if e == 0 {
			return false
		}
		// The tag spares reading the arena (a cache miss in a large
		// set) for all but about one slot in 4 billion that is not s.
		if e>>32 != tag {
			continue
		}
		off := uint32(e)
		if n := int(d.arena[off-1]); n == len(s) && equalFold(d.arena[off:int(off)+n], s) {
			return true
		}
	}
}

// hashFold is FNV-1a over s with ASCII upper case folded, then mixed
// (FNV's low bits alone spread poorly over a power-of-two table).
func hashFold(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// equalFold reports whether a (lower case) equals s with ASCII case folded.
func equalFold(lower []byte, s string) bool {
	if len(lower) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if lower[i] != c {
			return false
		}
	}
	return true
}

// maxDomainLen is the longest name DNS allows (in text, without the
// trailing dot).
const maxDomainLen = 253

// domainBuilder collects names, then builds a DomainSet.
type domainBuilder struct {
	arena []byte
	offs  []uint32
}

// add validates and adds one name; why says what is wrong with it,
// without repeating it.
func (b *domainBuilder) add(s string) (why string) {
	s = strings.TrimSuffix(s, ".")
	switch {
	case s == "":
		return "an empty domain name"
	case len(s) > maxDomainLen:
		return "longer than 253 bytes, not a domain name"
	case strings.HasPrefix(s, "*."):
		return "a wildcard; list the domain itself (its subdomains match too)"
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return "an empty label (two dots, or a leading dot)"
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c >= 0x80:
		default:
			return "not a domain name (letters, digits, '-', '_' and '.' only)"
		}
		label++
		if label > 63 {
			return "a label longer than 63 bytes, not a domain name"
		}
	}
	b.offs = append(b.offs, uint32(len(b.arena))+1)
	b.arena = append(b.arena, byte(len(s)))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.arena = append(b.arena, c)
	}
	return ""
}

// build makes the set; duplicates are kept once.
func (b *domainBuilder) build() *DomainSet {
	size := uint64(1) << bits.Len64(uint64(2*len(b.offs)|1))
	d := &DomainSet{slots: make([]uint64, size), mask: size - 1}
	// The arena is compacted in place as duplicates are dropped: the
	// write position never passes the read position.
	arena := b.arena[:0]
	for _, off := range b.offs {
		n := int(b.arena[off-1])
		name := b.arena[off : int(off)+n]
		h := hashFold(viewString(name))
		i := h & d.mask
		dup := false
		for ; d.slots[i] != 0; i = (i + 1) & d.mask {
			o := uint32(d.slots[i])
			if d.slots[i]>>32 == h>>32 && string(arena[o:int(o)+int(arena[o-1])]) == string(name) {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		arena = append(arena, byte(n))
		d.slots[i] = h>>32<<32 | uint64(len(arena))
		arena = append(arena, name...) // copy handles the overlap
		d.n++
	}
	d.arena = slices.Clip(arena)
	b.arena, b.offs = nil, nil
	return d
}

// Names yields each listed name (lower case), in no order: comparing two
// versions of a feed (rules.DiffSets) walks one and asks the other Has.
func (d *DomainSet) Names() iter.Seq[string] {
	return func(yield func(string) bool) {
		if d == nil {
			return
		}
		for _, e := range d.slots {
			if e == 0 {
				continue
			}
			off := uint32(e)
			n := int(d.arena[off-1])
			if !yield(string(d.arena[off : int(off)+n])) {
				return
			}
		}
	}
}

// Has reports whether name itself is listed (not a domain it is under).
func (d *DomainSet) Has(name string) bool {
	name = strings.TrimSuffix(name, ".")
	return d != nil && d.n > 0 && len(name) <= maxDomainLen && d.has(name)
}
