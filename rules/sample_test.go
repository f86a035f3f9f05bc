package rules

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
)

func TestSampleKeep(t *testing.T) {
	for _, c := range []struct {
		u, prior, rate float64
		kept           bool
		now, cond      float64
	}{
		{0.1, 1, 0.25, true, 0.25, 0.25},
		{0.3, 1, 0.25, false, 0.25, 0.25},
		{0.25, 1, 0.25, false, 0.25, 0.25}, // u in [0, 1): rate 0.25 keeps [0, 0.25)
		{0.0, 1, 1, true, 1, 1},
		{0.99, 1, 1, true, 1, 1},
		// A second sample filter nests in the first: same u.
		{0.1, 0.5, 0.25, true, 0.25, 0.5},
		{0.3, 0.5, 0.25, false, 0.25, 0.5},
		// A larger rate after a smaller one keeps every flow that reached it.
		{0.2, 0.25, 0.5, true, 0.25, 1},
	} {
		kept, now, cond := sampleKeep(c.u, c.prior, c.rate)
		if kept != c.kept || now != c.now || cond != c.cond {
			t.Errorf("sampleKeep(%v, %v, %v) = %v, %v, %v; want %v, %v, %v", c.u, c.prior, c.rate, kept, now, cond, c.kept, c.now, c.cond)
		}
	}
}

func TestCapRate(t *testing.T) {
	for _, c := range []struct {
		max       float64
		prev, cur int64
		want      float64
	}{
		{500, 0, 0, 1},
		{500, 0, 499, 1},           // the 500th flow of the second: whole
		{500, 0, 500, 500.0 / 501}, // the 501st: sampled
		{500, 0, 999, 0.5},
		{500, 400, 0, 1},    // under the cap last second
		{500, 5000, 0, 0.1}, // a flood last second: sampled from the first flow
		{500, 5000, 7499, 500.0 / 7500},
		{1, 0, 0, 1},
		{1, 0, 1, 0.5},
	} {
		if got := capRate(c.max, c.prev, c.cur); got != c.want {
			t.Errorf("capRate(%v, %d, %d) = %v, want %v", c.max, c.prev, c.cur, got, c.want)
		}
	}
}

func TestCapEntryRoll(t *testing.T) {
	for _, c := range []struct {
		name            string
		e               capEntry
		sec             int64
		wantCur, wantPr int64
		wantSec         int64
	}{
		{"same second", capEntry{sec: 10, cur: 5, prev: 3}, 10, 5, 3, 10},
		{"next second", capEntry{sec: 10, cur: 5, prev: 3}, 11, 0, 5, 11},
		{"idle seconds forget", capEntry{sec: 10, cur: 5, prev: 3}, 13, 0, 0, 13},
		{"clock stepped back", capEntry{sec: 10, cur: 5, prev: 3}, 9, 5, 3, 10},
	} {
		e := c.e
		e.roll(c.sec)
		if e.cur != c.wantCur || e.prev != c.wantPr || e.sec != c.wantSec {
			t.Errorf("%s: got cur %d prev %d sec %d", c.name, e.cur, e.prev, e.sec)
		}
	}
}

func decoded(t testing.TB, rec string) *codec.Flow {
	t.Helper()
	var f codec.Flow
	if err := codec.Decode([]byte(rec), &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// TestFlowHash pins the hash: it decides which flows a sample keeps, so
// it must not change between versions. The text record and its JSON form,
// and the source's and the destination's report of a flow, hash the same.
func TestFlowHash(t *testing.T) {
	const src = "1528842551 1528842851 wep dev rails-81531* app=rails wep prod memcached-38456* - 10.1.2.3 198.51.100.7 6 - 3000 7 3 4 src 154 61 70111 49404 allow"
	dst := strings.Replace(src, " src ", " dst ", 1)
	js := `{"start_time":1528842551,"source_type":"wep","source_namespace":"dev","source_name":"-","source_name_aggr":"rails-81531*",` +
		`"source_ip":"10.1.2.3","source_port":null,"dest_type":"wep","dest_namespace":"prod","dest_name_aggr":"memcached-38456*",` +
		`"dest_ip":"198.51.100.7","dest_port":3000,"proto":"tcp","reporter":"dst","bytes_in":1}`
	later := strings.Replace(src, "1528842551", "1528842552", 1)
	h := FlowHash(decoded(t, src))
	for name, rec := range map[string]string{"dst report": dst, "JSON": js} {
		if g := FlowHash(decoded(t, rec)); g != h {
			t.Errorf("%s hashes %#x, the text record %#x", name, g, h)
		}
	}
	if FlowHash(decoded(t, later)) == h {
		t.Error("another start_time hashes the same")
	}
	if h != pinnedHash {
		t.Errorf("FlowHash = %#x, pinned %#x: the hash changed, and with it which flows every sample rule keeps", h, pinnedHash)
	}
}

const pinnedHash = 0x1ede1036c76918ac

// TestFlowHashAsDocumented recomputes the hash of TestFlowHash's record
// from FlowHash's documentation, word by word, so the words documented
// are the words hashed.
func TestFlowHashAsDocumented(t *testing.T) {
	var words []uint64
	str := func(s string) {
		words = append(words, 3+uint64(len(s))*256)
		for len(s) > 0 {
			var w [8]byte
			n := copy(w[:], s)
			words = append(words, binary.LittleEndian.Uint64(w[:]))
			s = s[n:]
		}
	}
	num := func(n uint64) { words = append(words, 2, n) }
	addr := func(a string) {
		b := netip.MustParseAddr(a).As16()
		words = append(words, 1, binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
	}
	// source: wep dev rails-81531* 10.1.2.3 (no port); dest: wep prod
	// memcached-38456* 198.51.100.7 3000; proto 6; start_time.
	str("wep")
	str("dev")
	str("rails-81531*")
	addr("10.1.2.3")
	words = append(words, 0)
	str("wep")
	str("prod")
	str("memcached-38456*")
	addr("198.51.100.7")
	num(3000)
	num(6)
	num(1528842551)
	var h uint64
	for _, w := range words {
		h = bits.RotateLeft64(h^w*0x9E3779B97F4A7C15, 31) * 0xBF58476D1CE4E5B9
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	if h != pinnedHash {
		t.Errorf("documented hash %#x, FlowHash pinned at %#x", h, uint64(pinnedHash))
	}
}

func TestFlowUnit(t *testing.T) {
	for _, c := range []struct {
		h    uint64
		want float64
	}{
		{0, 0},
		{1 << 63, 0.5},
		{math.MaxUint64, 1 - 1.0/(1<<53)},
	} {
		if got := FlowUnit(c.h); got != c.want {
			t.Errorf("FlowUnit(%#x) = %v, want %v", c.h, got, c.want)
		}
	}
}

func TestSampleLoadErrors(t *testing.T) {
	filter := func(body string) string {
		return "filters:\n  - name: f\n" + body + "    when: {field: action, equals: allow}\n"
	}
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"no rate", filter("    action: sample\n"), `rules.yaml:2:5: rule "f": missing rate`},
		{"rate zero", filter("    action: sample\n    rate: 0\n"), `rules.yaml:4:11: rule "f": rate "0": want a number above 0 and at most 1`},
		{"rate above one", filter("    action: sample\n    rate: 1.5\n"), `rate "1.5": want a number above 0`},
		{"rate not a number", filter("    action: sample\n    rate: 10%\n"), `rate "10%"`},
		{"rate on exclude", filter("    action: exclude\n    rate: 0.5\n"), `rules.yaml:4:11: rule "f": rate applies to action sample only`},
		{"per on sample", filter("    action: sample\n    rate: 0.5\n    per: action\n"), `per applies to action cap only`},
		{"no per", filter("    action: cap\n    max_per_sec: 5\n"), `missing per`},
		{"unknown per", filter("    action: cap\n    per: [source_namespce]\n    max_per_sec: 5\n"), `unknown field "source_namespce" in per`},
		{"no max", filter("    action: cap\n    per: source_namespace\n"), `missing max_per_sec`},
		{"max zero", filter("    action: cap\n    per: source_namespace\n    max_per_sec: 0\n"), `max_per_sec "0": want a number, at least 1`},
		{"max keys zero", filter("    action: cap\n    per: source_namespace\n    max_per_sec: 5\n    max_keys: 0\n"), `max_keys "0": want a whole number`},
	} {
		_, err := Load([]byte(c.yaml), "rules.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	s, err := Load([]byte(filter("    action: cap\n    per: [source_namespace, dest_namespace]\n    max_per_sec: 5\n")), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Filters()[0]; r.Action != "cap" || len(r.Per) != 2 || r.MaxPerSec != 5 || r.MaxKeys != defaultMaxKeys {
		t.Errorf("cap filter read as %+v", r)
	}
}

const sampleRules = `
threats:
  - name: to-feed
    severity: high
    when: {field: dest_ip, cidr: [%s]}
filters:
  - name: drop-dev
    action: exclude
    when: {field: source_namespace, equals: dev}
  - name: sample-allowed
    action: sample
    rate: 0.25
    when: {field: action, equals: allow}
`

// TestSampleHonestTotals: on 20,000 mixed records (text and JSON) a sample
// rule at 0.25 keeps about a quarter, and the scaled counters of the kept
// records, as written by codec.Output, sum to within 5 % of the true sums
// over the flows the rule saw; every flagged flow is flagged whatever the
// sample decided.
func TestSampleHonestTotals(t *testing.T) {
	var cidrs []string
	for _, a := range flowgen.DefaultThreatIPs {
		cidrs = append(cidrs, a.String())
	}
	s, err := Load([]byte(fmt.Sprintf(sampleRules, strings.Join(cidrs, ", "))), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := flowgen.New(7, flowgen.Options{})
	var f, out codec.Flow
	var v Verdict
	var buf []byte
	type sums struct{ flows, bytes, n float64 }
	var truth, est sums
	var flagged, flaggedDropped, kept int
	const n = 20000
	for i := range n {
		format := codec.FormatText
		if i%2 == 1 {
			format = codec.FormatJSON
		}
		rec := g.Append(nil, format)
		if err := codec.Decode(rec, &f); err != nil {
			t.Fatal(err)
		}
		s.Judge(&f, &v)
		if v.Flagged() {
			flagged++
			if !v.Keep {
				flaggedDropped++
			}
		}
		if len(v.Samples) == 0 {
			continue
		}
		truth.n++
		truth.flows += float64(f.Get(codec.NumFlows).Int)
		truth.bytes += float64(f.Get(codec.BytesIn).Int + f.Get(codec.BytesOut).Int)
		if !v.Keep {
			continue
		}
		kept++
		if v.Rate != 0.25 || v.Samples[0].Rate != 0.25 {
			t.Fatalf("kept sampled flow with rate %v", v.Rate)
		}
		buf = codec.Output{}.Append(buf[:0], rec, &f, v.Scale())
		if err := codec.Decode(buf, &out); err != nil {
			t.Fatalf("%s: %v", buf, err)
		}
		est.n += 1 / v.Rate
		est.flows += float64(out.Get(codec.NumFlows).Int)
		est.bytes += float64(out.Get(codec.BytesIn).Int + out.Get(codec.BytesOut).Int)
	}
	if truth.n < n/2 {
		t.Fatalf("the sample rule saw only %v flows", truth.n)
	}
	if share := float64(kept) / truth.n; math.Abs(share-0.25) > 0.02 {
		t.Errorf("kept %d of %v sampled flows (%.3f), want about 0.25", kept, truth.n, share)
	}
	for name, p := range map[string][2]float64{"count": {truth.n, est.n}, "num_flows": {truth.flows, est.flows}, "bytes": {truth.bytes, est.bytes}} {
		if e := math.Abs(p[1]-p[0]) / p[0]; e > 0.05 {
			t.Errorf("%s: scaled sum %v, true %v: off by %.1f %%", name, p[1], p[0], 100*e)
		}
		t.Logf("%s: scaled %v, true %v", name, p[1], p[0])
	}
	if flagged == 0 || flaggedDropped == 0 {
		t.Errorf("flagged %d flows, %d of them dropped: the mix should have both", flagged, flaggedDropped)
	}
}

// TestCapFlood: one namespace floods among steady ones. The flood's kept
// flows hold the cap each second after the first, and its scaled totals
// stay right; the steady namespaces are kept whole.
func TestCapFlood(t *testing.T) {
	s, err := Load([]byte(`
filters:
  - name: cap-per-namespace
    action: cap
    per: source_namespace
    max_per_sec: 500
    when: {field: action, equals: allow}
`), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	v := Verdict{Caps: NewCaps(func() time.Time { return now })}
	var f codec.Flow
	const seconds, flood, steady = 10, 5000, 200
	var floodTrue, floodEst float64
	for sec := range seconds {
		now = time.Unix(1700000000+int64(sec), 0)
		floodKept := 0
		judge := func(ns string, i int) {
			// Distinct flows: the port varies.
			rec := fmt.Sprintf("%d %d wep %s web-* - wep prod db-* - - - 6 - %d 1 1 0 src 10 10 1000 %d allow",
				1700000000+sec, 1700000300+sec, ns, 1024+i, 500+i%7)
			if err := codec.Decode([]byte(rec), &f); err != nil {
				t.Fatal(err)
			}
			s.Judge(&f, &v)
		}
		for i := range flood {
			if i%(flood/steady) == 0 {
				for _, ns := range []string{"a", "b", "c"} {
					judge(ns, i)
					if !v.Keep || v.Rate != 1 {
						t.Fatalf("second %d: steady namespace %s flow judged keep=%v rate=%v", sec, ns, v.Keep, v.Rate)
					}
				}
			}
			judge("scan", i)
			floodTrue += float64(f.Get(codec.BytesOut).Int)
			if v.Keep {
				floodKept++
				floodEst += float64(v.Scale().Int(f.Get(codec.BytesOut).Int))
			}
		}
		limit := 500 * 1.15
		if sec == 0 {
			limit = 500 * (1 + math.Log(flood/500.0)) * 1.15 // the flood's first second: the rate falls as it grows
		}
		if float64(floodKept) > limit {
			t.Errorf("second %d: kept %d flood flows, cap 500 (limit %v)", sec, floodKept, limit)
		}
		t.Logf("second %d: kept %d flood flows", sec, floodKept)
	}
	if e := math.Abs(floodEst-floodTrue) / floodTrue; e > 0.05 {
		t.Errorf("flood bytes: scaled %v, true %v: off by %.1f %%", floodEst, floodTrue, 100*e)
	}
	if k := v.Caps.Keys("cap-per-namespace"); k != 4 {
		t.Errorf("tracking %d keys, want 4", k)
	}
}

// TestCapEvicts: past max_keys the least recently seen key is forgotten,
// and the judgement that forgot it says so.
func TestCapEvicts(t *testing.T) {
	s, err := Load([]byte(`
filters:
  - name: cap
    action: cap
    per: [source_namespace, dest_port]
    max_per_sec: 1
    max_keys: 2
    when: {field: action, equals: allow}
`), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	v := Verdict{Caps: NewCaps(func() time.Time { return now })}
	evicted := 0
	for i, key := range []string{"a 1", "b 1", "a 1", "c 1", "b 1"} {
		ns, port, _ := strings.Cut(key, " ")
		f := decoded(t, fmt.Sprintf("1 2 wep %s x-* - wep prod db-* - - - 6 - %s 1 1 0 src 1 1 1 1 allow", ns, port))
		s.Judge(f, &v)
		if v.Samples[0].Evicted {
			evicted++
		}
		want := []bool{false, false, false, true, true}[i] // c evicts b; b evicts a
		if v.Samples[0].Evicted != want {
			t.Errorf("flow %d (%s): evicted %v, want %v", i, key, v.Samples[0].Evicted, want)
		}
	}
	if evicted != 2 || v.Caps.Keys("cap") != 2 {
		t.Errorf("evicted %d, tracking %d keys", evicted, v.Caps.Keys("cap"))
	}
	// A reload without the cap filter forgets its keys.
	s2, err := Load([]byte("filters: []\n"), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v.Caps.prune(s2)
	if v.Caps.Keys("cap") != 0 {
		t.Error("a removed cap filter's keys are kept")
	}
}

func TestParseFields(t *testing.T) {
	for _, c := range []struct {
		list    []string
		exclude bool
		err     string
	}{
		{list: []string{"source_namespace", "bytes_in", "$.kubernetes.pod", "$['a']['b']", "flowsieve_sample_rate"}},
		{list: []string{"-source_labels", "- dest_labels", "-$.kubernetes.labels"}, exclude: true},
		{list: []string{"source_namespce"}, err: `fields: unknown field "source_namespce" (for a member that is not a Calico field, write $.source_namespce`},
		{list: []string{"source_labels", "-dest_labels"}, err: `either keeps fields or removes them`},
		{list: []string{"$.a[0]"}, err: `an array index selects no member`},
		{list: []string{"-"}, err: `entry 1 is empty`},
		{list: nil, err: `no fields listed`},
	} {
		p, err := ParseFields(c.list)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %v, want %q", c.list, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.list, err)
		case p.Exclude() != c.exclude:
			t.Errorf("%q: exclude %v", c.list, p.Exclude())
		}
	}
}

// TestJudgeSampleAllocs: judging with sample and cap filters allocates
// nothing once a key is known.
func TestJudgeSampleAllocs(t *testing.T) {
	s, err := Load([]byte(`
filters:
  - {name: s, action: sample, rate: 0.5, when: {field: action, equals: allow}}
  - {name: c, action: cap, per: source_namespace, max_per_sec: 10, when: {field: action, equals: allow}}
`), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := decoded(t, textRec)
	var v Verdict
	v.Caps = NewCaps(nil)
	s.Judge(f, &v)
	if n := testing.AllocsPerRun(200, func() { s.Judge(f, &v) }); n != 0 {
		t.Errorf("%v allocations per judgement", n)
	}
}
