package flowgen

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
)

func generate(seed int64, opts Options, format codec.Format, n int) [][]byte {
	g := New(seed, opts)
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.Append(nil, format)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	for _, format := range []codec.Format{codec.FormatText, codec.FormatJSON} {
		a := generate(7, Options{}, format, 500)
		b := generate(7, Options{}, format, 500)
		c := generate(8, Options{}, format, 500)
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("format %v record %d differs for the same seed:\n%s\n%s", format, i, a[i], b[i])
			}
		}
		same := 0
		for i := range a {
			if bytes.Equal(a[i], c[i]) {
				same++
			}
		}
		if same == len(a) {
			t.Errorf("format %v: seeds 7 and 8 give the same records", format)
		}
	}
}

// mix counts what a rules engine would look for in n generated records.
type mix struct {
	n, threat, mining, deniedPub, nginxFromPub, public, private, aggregated int
	namespaces                                                              map[string]int
	textBytes                                                               int
}

func measure(t *testing.T, seed int64, opts Options, format codec.Format, n int) mix {
	t.Helper()
	threats := opts.ThreatIPs
	if len(threats) == 0 {
		threats = DefaultThreatIPs
	}
	m := mix{n: n, namespaces: map[string]int{}}
	var f codec.Flow
	for i, rec := range generate(seed, opts, format, n) {
		m.textBytes += len(rec)
		if err := codec.Decode(rec, &f); err != nil {
			t.Fatalf("record %d does not decode: %v\n%s", i, err, rec)
		}
		if f.Format() != format {
			t.Fatalf("record %d decoded as %v", i, f.Format())
		}
		if ns := f.Get(codec.SourceNamespace); ns.Kind == codec.KindString && ns.Str != "-" {
			m.namespaces[ns.Str]++
		}
		dst, ok := f.Addr(codec.DestIP)
		if ok && slices.Contains(threats, dst) {
			m.threat++
		}
		if ok && dst.IsPrivate() {
			m.private++
		} else if ok {
			m.public++
		}
		if !ok {
			m.aggregated++
		}
		if slices.Contains(MiningPorts, int(f.Get(codec.DestPort).Int)) {
			m.mining++
		}
		if f.Get(codec.Action).Str == "deny" && f.Get(codec.DestNameAggr).Str == "pub" {
			m.deniedPub++
		}
		if f.Get(codec.SourceNameAggr).Str == "pub" && bytes.HasPrefix([]byte(f.Get(codec.DestNameAggr).Str), []byte("nginx-internet")) {
			m.nginxFromPub++
		}
	}
	return m
}

func TestMix(t *testing.T) {
	for _, format := range []codec.Format{codec.FormatText, codec.FormatJSON} {
		m := measure(t, 1, Options{}, format, 5000)
		between := func(name string, got int, lo, hi float64) {
			t.Helper()
			if r := float64(got) / float64(m.n); r < lo || r > hi {
				t.Errorf("format %v: %s is %.3f of records, want %.3f..%.3f", format, name, r, lo, hi)
			}
		}
		between("threat-feed destinations", m.threat, 0.01, 0.03)
		between("mining-pool ports", m.mining, 0.005, 0.02)
		between("denied egress to pub", m.deniedPub, 0.02, 0.045)
		between("nginx-internet from pub", m.nginxFromPub, 0.07, 0.13)
		between("public destinations", m.public, 0.05, 0.5)
		between("private destinations", m.private, 0.1, 0.6)
		between("aggregated (no dest IP)", m.aggregated, 0.2, 0.6)
		for _, ns := range []string{"default", "dev", "prod", "kube-system", "staging", "payments", "monitoring"} {
			if m.namespaces[ns] == 0 {
				t.Errorf("format %v: no flow from namespace %s", format, ns)
			}
		}
		if format == codec.FormatText {
			if avg := m.textBytes / m.n; avg < 120 || avg > 190 {
				t.Errorf("text records average %d bytes, want about 150", avg)
			}
		}
	}
}

func TestThreatIPsOption(t *testing.T) {
	feed := []netip.Addr{netip.MustParseAddr("192.0.2.99"), netip.MustParseAddr("2001:db8::bad")}
	m := measure(t, 3, Options{ThreatIPs: feed, ThreatRatio: 0.2}, codec.FormatText, 2000)
	if r := float64(m.threat) / float64(m.n); r < 0.15 || r > 0.25 {
		t.Errorf("threat share %.3f with ThreatRatio 0.2", r)
	}
	none := measure(t, 3, Options{ThreatRatio: -1, MiningRatio: -1}, codec.FormatText, 2000)
	if none.threat != 0 || none.mining != 0 {
		t.Errorf("negative ratios still give %d threat and %d mining flows", none.threat, none.mining)
	}
}

func TestNextMatchesText(t *testing.T) {
	g1, g2 := New(5, Options{}), New(5, Options{})
	var a, b codec.Flow
	for i := 0; i < 200; i++ {
		if err := g1.Next(&a); err != nil {
			t.Fatal(err)
		}
		line := g2.Append(nil, codec.FormatText)
		if err := codec.DecodeText(line, &b); err != nil {
			t.Fatal(err)
		}
		if !a.Equal(&b) {
			t.Fatalf("record %d: Next differs from the text form %s", i, line)
		}
	}
	if g1.Count() != 200 {
		t.Errorf("Count = %d", g1.Count())
	}
}
