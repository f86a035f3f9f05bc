package codec

// Member names are resolved to a Field with a small perfect hash over a few
// bytes of the key, found when the package loads: a Go map lookup per
// member would cost more than the rest of the JSON scan.

const keyTableBits = 9

type keyEntry struct {
	name  string
	field Field
	alias uint8 // aliasStart/aliasEnd for felix's camelCase spellings
}

const (
	aliasStart uint8 = 1 << iota
	aliasEnd
)

var (
	keySeed  uint32
	keyTable [1 << keyTableBits]keyEntry
)

func keyHash(s string, seed uint32) uint32 {
	n := len(s)
	h := uint32(n)*0x9E3779B1 ^ seed
	h ^= uint32(s[0]) | uint32(s[n/2])<<8 | uint32(s[n-1])<<16 | uint32(s[n*3/4])<<24
	h *= 0x85EBCA6B
	h ^= h >> 13
	h *= seed | 1
	h ^= h >> 16
	return h & (1<<keyTableBits - 1)
}

func keyEntries() []keyEntry {
	es := make([]keyEntry, 0, NumFields+2)
	for i := range fields {
		es = append(es, keyEntry{name: fields[i].name, field: Field(i)})
	}
	return append(es,
		keyEntry{name: "startTime", field: StartTime, alias: aliasStart},
		keyEntry{name: "endTime", field: EndTime, alias: aliasEnd})
}

func init() {
	es := keyEntries()
	for seed := uint32(1); seed < 1<<20; seed++ {
		var t [1 << keyTableBits]keyEntry
		ok := true
		for _, e := range es {
			h := keyHash(e.name, seed)
			if t[h].name != "" {
				ok = false
				break
			}
			t[h] = e
		}
		if ok {
			keySeed, keyTable = seed, t
			return
		}
	}
	panic("codec: no collision-free seed for the field-name table")
}

// lookupKey resolves a JSON member name to a known field.
func lookupKey(s string) (keyEntry, bool) {
	if s == "" {
		return keyEntry{}, false
	}
	e := keyTable[keyHash(s, keySeed)]
	return e, e.name == s && e.name != ""
}
