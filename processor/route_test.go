package processor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

const routeTestRules = `
threats:
  - name: c2
    severity: critical
    when: {field: dest_ip, cidr: 198.51.100.0/24}
filters:
  - name: drop-dev
    action: exclude
    when: {field: source_namespace, equals: dev}
`

func loadRouteTestRules(t *testing.T) *rules.Set {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(routeTestRules), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// textFlow is a Calico text flow log from namespace ns to dst, its source
// name padded by pad bytes.
func textFlow(ns, dst string, pad int) []byte {
	return fmt.Appendf(nil, "1700000000 1700000300 wep %s client-%s app=client wep prod server-* app=server 10.0.0.1 %s 6 30000 443 1 1 0 src 10 12 1200 1000 allow",
		ns, strings.Repeat("x", pad), dst)
}

func routeTestRecord(value []byte) *kgo.Record {
	return &kgo.Record{Topic: "raw", Partition: 3, Offset: 42, Key: []byte("k"), Value: value,
		Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}}
}

// sizeOf is the size checkSize estimates for value as an output of rec.
func sizeOf(rec *kgo.Record, value []byte) int {
	return recordSize(rec.Key, value, rec.Headers) + versionHeaderRoom
}

// TestDecide is the routing decision table: each kind of record, each
// output format, and an output too large for each topic.
func TestDecide(t *testing.T) {
	set := loadRouteTestRules(t)
	topics := [numOutputs]string{outKept: "kept", outThreats: "threats", outInvalid: "invalid"}

	var f codec.Flow
	jsonOf := func(value []byte) []byte {
		if err := codec.Decode(value, &f); err != nil {
			t.Fatal(err)
		}
		return codec.AppendJSON(nil, &f)
	}
	threatOf := func(value []byte) []byte {
		var v rules.Verdict
		if err := codec.Decode(value, &f); err != nil {
			t.Fatal(err)
		}
		set.Judge(&f, &v)
		return rules.AppendThreatJSON(nil, &f, set, &v)
	}

	kept := textFlow("prod", "10.1.1.1", 0)
	dropped := textFlow("dev", "10.1.1.1", 0)
	flagged := textFlow("prod", "198.51.100.9", 0)
	flaggedDropped := textFlow("dev", "198.51.100.9", 0)
	garbage := []byte("garbage: not a flow log")
	jsonKept := jsonOf(kept)
	big := textFlow("prod", "10.1.1.1", 3000)
	bigFlagged := textFlow("prod", "198.51.100.9", 3000)
	bigRec := routeTestRecord(big)

	// limits: a topic that takes exactly value as an output of a record
	// like rec, and one byte less.
	fits := func(value []byte) int { return sizeOf(bigRec, value) }
	tooSmall := func(value []byte) int { return sizeOf(bigRec, value) - 1 }

	type want struct {
		outs                            []output
		kept, dropped, flagged, invalid bool
		reason                          string
		// value of the kept output when not the input
		keptValue []byte
		truncated bool // the invalid output is cut to fit
		cut       bool // the threat record is cut to fit
	}
	for _, tc := range []struct {
		name     string
		rt       router
		value    []byte
		noRules  bool
		want     want
		wantText string // in the invalid record's reason
	}{
		{name: "kept raw", value: kept,
			want: want{outs: []output{outKept}, kept: true}},
		{name: "kept json", rt: router{out: codec.Output{JSON: true}}, value: kept,
			want: want{outs: []output{outKept}, kept: true, keptValue: jsonKept}},
		{name: "kept raw, JSON input", value: jsonKept,
			want: want{outs: []output{outKept}, kept: true}},
		{name: "dropped", value: dropped,
			want: want{dropped: true}},
		{name: "flagged and kept", value: flagged,
			want: want{outs: []output{outThreats, outKept}, flagged: true, kept: true}},
		{name: "flagged and kept json", rt: router{out: codec.Output{JSON: true}}, value: flagged,
			want: want{outs: []output{outThreats, outKept}, flagged: true, kept: true, keptValue: jsonOf(flagged)}},
		{name: "flagged and dropped", value: flaggedDropped,
			want: want{outs: []output{outThreats}, flagged: true, dropped: true}},
		{name: "invalid", value: garbage,
			want: want{outs: []output{outInvalid}, invalid: true, reason: "text_startTime"}},
		{name: "empty", value: nil,
			want: want{outs: []output{outInvalid}, invalid: true, reason: "empty"}},
		{name: "copy", rt: router{copy: true}, value: garbage, noRules: true,
			want: want{outs: []output{outKept}}},

		{name: "kept raw fits", rt: router{limit: [numOutputs]int{outKept: fits(big)}}, value: big,
			want: want{outs: []output{outKept}, kept: true}},
		{name: "kept raw oversize", rt: router{limit: [numOutputs]int{outKept: tooSmall(big)}}, value: big,
			want: want{outs: []output{outInvalid}, invalid: true, reason: "oversize"}, wantText: "the kept record would be about"},
		{name: "kept json oversize, raw fits", rt: router{out: codec.Output{JSON: true}, limit: [numOutputs]int{outKept: fits(big)}}, value: big,
			want: want{outs: []output{outInvalid}, invalid: true, reason: "oversize"}, wantText: "the kept record"},
		{name: "kept json fits", rt: router{out: codec.Output{JSON: true}, limit: [numOutputs]int{outKept: fits(jsonOf(big))}}, value: big,
			want: want{outs: []output{outKept}, kept: true, keptValue: jsonOf(big)}},
		{name: "flagged, kept oversize: threat produced, input invalid", rt: router{limit: [numOutputs]int{outKept: tooSmall(bigFlagged)}}, value: bigFlagged,
			want: want{outs: []output{outThreats, outInvalid}, flagged: true, invalid: true, reason: "oversize"}, wantText: "the kept record"},
		{name: "flagged, kept json oversize: threat produced, input invalid", rt: router{out: codec.Output{JSON: true}, limit: [numOutputs]int{outKept: fits(bigFlagged)}}, value: bigFlagged,
			want: want{outs: []output{outThreats, outInvalid}, flagged: true, invalid: true, reason: "oversize"}, wantText: "the kept record"},
		{name: "flagged, threat oversize: cut to fit", rt: router{limit: [numOutputs]int{outThreats: tooSmall(threatOf(bigFlagged))}}, value: bigFlagged,
			want: want{outs: []output{outThreats, outKept}, flagged: true, kept: true, cut: true}},
		{name: "flagged and dropped, threat oversize: cut to fit", rt: router{limit: [numOutputs]int{outThreats: 1000}}, value: textFlow("dev", "198.51.100.9", 3000),
			want: want{outs: []output{outThreats}, flagged: true, dropped: true, cut: true}},
		{name: "flagged, the verdict alone oversize", rt: router{limit: [numOutputs]int{outThreats: 600}}, value: bigFlagged,
			want: want{outs: []output{outInvalid}, invalid: true, reason: "oversize"}, wantText: "the threats record"},
		{name: "invalid oversize for the invalid topic", rt: router{limit: [numOutputs]int{outInvalid: 1000}}, value: append([]byte("garbage "), make([]byte, 2000)...),
			want: want{outs: []output{outInvalid}, invalid: true, reason: "text_startTime", truncated: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := tc.rt
			rt.topics = topics
			s := set
			if tc.noRules {
				s = nil
			}
			rec := routeTestRecord(tc.value)
			var (
				fl codec.Flow
				v  rules.Verdict
				d  decision
			)
			rt.decide(rec, s, nil, &fl, &v, nil, &d)
			w := tc.want
			var got []output
			for _, o := range d.outs[:d.n] {
				got = append(got, o.to)
			}
			if fmt.Sprint(got) != fmt.Sprint(w.outs) {
				t.Fatalf("outputs %v, want %v", got, w.outs)
			}
			if d.kept != w.kept || d.dropped != w.dropped || d.flagged != w.flagged || d.invalid != w.invalid {
				t.Errorf("counted kept %v dropped %v flagged %v invalid %v, want %v %v %v %v",
					d.kept, d.dropped, d.flagged, d.invalid, w.kept, w.dropped, w.flagged, w.invalid)
			}
			if d.reason != w.reason {
				t.Errorf("reason %q, want %q", d.reason, w.reason)
			}
			if w.dropped && d.dropRule != 0 {
				t.Errorf("drop rule %d, want 0", d.dropRule)
			}
			if w.flagged && (len(d.threats) != 1 || d.threats[0].Rule != 0) {
				t.Errorf("threats %+v, want rule 0", d.threats)
			}
			for _, o := range d.outs[:d.n] {
				h := headerMap(o.headers)
				if h["origin"] != "test" {
					t.Errorf("%v output lost the input's headers: %v", o.to, h)
				}
				if l := rt.limit[o.to]; l > 0 && o.to != outInvalid && recordSize(rec.Key, o.value, o.headers) > l {
					t.Errorf("%v output of %d bytes over its limit %d", o.to, len(o.value), l)
				}
				switch o.to {
				case outKept:
					want := tc.value
					if w.keptValue != nil {
						want = w.keptValue
					}
					if string(o.value) != string(want) {
						t.Errorf("kept value\n got %s\nwant %s", o.value, want)
					}
				case outThreats:
					if !strings.Contains(string(o.value), `"rule":"c2","severity":"critical"`) {
						t.Errorf("threat record lacks the hit: %s", o.value)
					}
					if cut := strings.Contains(string(o.value), `"record_cut":true`); cut != w.cut {
						t.Errorf("threat record cut %v, want %v: %.300s", cut, w.cut, o.value)
					}
				case outInvalid:
					if h[HeaderReason] == "" || h[HeaderTopic] != "raw" || h[HeaderPartition] != "3" || h[HeaderOffset] != "42" {
						t.Errorf("invalid headers %v", h)
					}
					if !strings.Contains(h[HeaderReason], tc.wantText) {
						t.Errorf("reason %q lacks %q", h[HeaderReason], tc.wantText)
					}
					if w.truncated {
						if h[HeaderTruncated] != fmt.Sprint(len(tc.value)) || len(o.value) >= len(tc.value) ||
							recordSize(rec.Key, o.value, o.headers) > rt.limit[outInvalid] {
							t.Errorf("cut to %d bytes (%d with framing, limit %d), header %q", len(o.value),
								recordSize(rec.Key, o.value, o.headers), rt.limit[outInvalid], h[HeaderTruncated])
						}
					} else if string(o.value) != string(tc.value) || h[HeaderTruncated] != "" {
						t.Errorf("invalid value changed or marked cut (%q)", h[HeaderTruncated])
					}
				}
			}
		})
	}
}

func headerMap(hs []kgo.RecordHeader) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}

// TestDecideAllocs: deciding a kept record, as it came, allocates nothing
// (the hot path); only new output bytes (threat JSON, kept JSON, invalid
// headers) do.
func TestDecideAllocs(t *testing.T) {
	set := loadRouteTestRules(t)
	rt := router{limit: [numOutputs]int{outKept: 1 << 20, outThreats: 1 << 20, outInvalid: 1 << 20}}
	for _, value := range [][]byte{textFlow("prod", "10.1.1.1", 0), textFlow("dev", "10.1.1.1", 0)} {
		rec := routeTestRecord(value)
		var (
			f codec.Flow
			v rules.Verdict
			d decision
		)
		if n := testing.AllocsPerRun(100, func() { rt.decide(rec, set, nil, &f, &v, nil, &d) }); n != 0 {
			t.Errorf("%s: %.0f allocations per decision, want 0", value, n)
		}
	}
}

// volumeTestRules are routeTestRules and a sample filter.
const volumeTestRules = routeTestRules + `  - name: half
    action: sample
    rate: 0.5
    when: {field: action, equals: allow}
`

// TestDecideVolume is the decision table for sampling and projection: a
// sampled flow kept has its counters scaled in its own form and the
// sample-rate header; one dropped is dropped by the sample filter; a
// flagged flow's threat record is whole and unscaled; a projection writes
// JSON with the listed fields.
func TestDecideVolume(t *testing.T) {
	set, err := rules.Load([]byte(volumeTestRules), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Records of one shape whose hash falls inside and outside the
	// sample, found by the same hash the rules use.
	var f codec.Flow
	find := func(dst string, inside bool) []byte {
		for port := 1; port < 1000; port++ {
			rec := fmt.Appendf(nil, "1700000000 1700000300 wep prod client-* - wep prod server-* - 10.0.0.1 %s 6 30000 %d 2 1 0 src 10 12 1200 1000 allow", dst, port)
			if err := codec.Decode(rec, &f); err != nil {
				t.Fatal(err)
			}
			if (rules.FlowUnit(rules.FlowHash(&f)) < 0.5) == inside {
				return rec
			}
		}
		t.Fatal("no record found")
		return nil
	}
	in, out := find("10.1.1.1", true), find("10.1.1.1", false)
	flaggedIn, flaggedOut := find("198.51.100.9", true), find("198.51.100.9", false)
	denied := []byte("1700000000 1700000300 wep prod client-* - wep prod server-* - 10.0.0.1 10.1.1.1 6 30000 443 2 1 0 src 10 12 1200 1000 deny")
	scaled := func(rec []byte) string {
		// 2 1 0 ... 10 12 1200 1000 doubled.
		s := strings.Replace(string(rec), " 2 1 0 src 10 12 1200 1000 ", " 4 2 0 src 20 24 2400 2000 ", 1)
		if s == string(rec) {
			t.Fatalf("scaled: no counters in %s", rec)
		}
		return s
	}
	proj, err := rules.ParseFields([]string{"dest_port", "bytes_in", "flowsieve_sample_rate"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		out       codec.Output
		value     []byte
		header    string // the input's flowsieve.sample_rate header, if any
		outs      []output
		keptValue string
		rate      string // the kept record's flowsieve.sample_rate header
		dropped   bool
		seen      []bool // per sample reached: kept
	}{
		{name: "sampled, kept", value: in, outs: []output{outKept}, keptValue: scaled(in), rate: "0.5", seen: []bool{true}},
		{name: "sampled, dropped", value: out, dropped: true, seen: []bool{false}},
		{name: "sampled twice", value: in, header: "0.5", outs: []output{outKept}, keptValue: scaled(in), rate: "0.25", seen: []bool{true}},
		{name: "flagged, kept", value: flaggedIn, outs: []output{outThreats, outKept}, keptValue: scaled(flaggedIn), rate: "0.5", seen: []bool{true}},
		{name: "flagged, dropped by the sample", value: flaggedOut, outs: []output{outThreats}, dropped: true, seen: []bool{false}},
		{name: "projected, sampled", out: codec.Output{Fields: proj}, value: in, outs: []output{outKept},
			keptValue: fmt.Sprintf(`{"dest_port":%s,"bytes_in":2400,"flowsieve_sample_rate":0.5}`, strings.Fields(string(in))[14]), rate: "0.5", seen: []bool{true}},
		{name: "not sampled, projected", out: codec.Output{Fields: proj}, value: denied, outs: []output{outKept},
			keptValue: `{"dest_port":443,"bytes_in":1200}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := router{topics: [numOutputs]string{outKept: "kept", outThreats: "threats", outInvalid: "invalid"}, out: tc.out}
			rec := routeTestRecord(tc.value)
			if tc.header != "" {
				rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderSampleRate, Value: []byte(tc.header)})
			}
			var (
				fl codec.Flow
				v  rules.Verdict
				d  decision
			)
			rt.decide(rec, set, nil, &fl, &v, nil, &d)
			var got []output
			for _, o := range d.outs[:d.n] {
				got = append(got, o.to)
				h := headerMap(o.headers)
				switch o.to {
				case outKept:
					if string(o.value) != tc.keptValue {
						t.Errorf("kept value\n got %s\nwant %s", o.value, tc.keptValue)
					}
					if h[HeaderSampleRate] != tc.rate || h["origin"] != "test" {
						t.Errorf("kept headers %v, want rate %q", h, tc.rate)
					}
					if n := strings.Count(fmt.Sprint(o.headers), HeaderSampleRate); n != min(len(tc.rate), 1) {
						t.Errorf("%d sample-rate headers", n)
					}
				case outThreats:
					if !strings.Contains(string(o.value), `"bytes_in":1200,"bytes_out":1000`) || h[HeaderSampleRate] != "" {
						t.Errorf("threat record scaled or marked: %s %v", o.value, h)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.outs) {
				t.Fatalf("outputs %v, want %v", got, tc.outs)
			}
			if d.dropped != tc.dropped || (tc.dropped && d.dropRule != 1) {
				t.Errorf("dropped %v by %d", d.dropped, d.dropRule)
			}
			var seen []bool
			for _, s := range d.samples {
				seen = append(seen, s.Kept)
			}
			if fmt.Sprint(seen) != fmt.Sprint(tc.seen) || (tc.seen != nil) != (d.flowBytes == 2200) || d.inBytes != len(tc.value) {
				t.Errorf("samples %v, flow bytes %d, in bytes %d", seen, d.flowBytes, d.inBytes)
			}
		})
	}
}

// TestDecideVersionHeader: every output of a judged record carries the
// rules version, replacing one the input carried, with the input's other
// headers; copy mode adds none; and the headers cost no allocation per
// record (they come from a slab).
func TestDecideVersionHeader(t *testing.T) {
	set := loadRouteTestRules(t)
	rt := router{topics: [numOutputs]string{outKept: "kept", outThreats: "threats", outInvalid: "invalid"}}
	var (
		f  codec.Flow
		v  rules.Verdict
		hs headerScratch
		d  = decision{hs: &hs}
	)
	for _, value := range [][]byte{textFlow("prod", "198.51.100.9", 0), []byte("garbage")} {
		rec := routeTestRecord(value)
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: HeaderRulesVersion, Value: []byte("stale")})
		rt.decide(rec, set, nil, &f, &v, nil, &d)
		if d.n == 0 {
			t.Fatal("no outputs")
		}
		for _, o := range d.outs[:d.n] {
			h := headerMap(o.headers)
			n := 0
			for _, x := range o.headers {
				if x.Key == HeaderRulesVersion {
					n++
				}
			}
			if h[HeaderRulesVersion] != set.Version() || n != 1 || h["origin"] != "test" {
				t.Errorf("%v output headers %v", o.to, o.headers)
			}
		}
	}
	copyRT := router{copy: true}
	copyRT.decide(routeTestRecord([]byte("x")), nil, nil, &f, &v, nil, &d)
	if _, ok := headerMap(d.outs[0].headers)[HeaderRulesVersion]; ok {
		t.Error("copy mode added a version header")
	}
	rec := routeTestRecord(textFlow("prod", "10.1.1.1", 0))
	if n := testing.AllocsPerRun(1000, func() { rt.decide(rec, set, nil, &f, &v, nil, &d) }); n != 0 {
		t.Errorf("%.2f allocations per kept record with the version header, want 0", n)
	}
}
