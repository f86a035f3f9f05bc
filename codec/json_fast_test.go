package codec

import (
	"fmt"
	"strings"
	"testing"
)

// DecodeJSONFast runs the fast path alone, within members and levels, for
// the external tests (which can use flowgen).
func DecodeJSONFast(b []byte, f *Flow, members, levels int) bool {
	f.set = 1<<NumFields - 1 // as decodeJSON after a fast attempt
	f.Reset()
	f.format = FormatJSON
	return decodeJSONFast(b, f, members, levels)
}

// MaxDepth is DecodeJSON's levels, for the external tests.
const MaxDepth = maxDepth + 1

// TestDecodeJSONFastShapes checks which shapes the fast path takes and
// which it leaves to the general one (TestDecodeJSONFastPath: felix's
// records take it); FuzzDecodeJSONFast checks that the two agree.
func TestDecodeJSONFastShapes(t *testing.T) {
	var f Flow
	for _, tc := range []struct {
		rec  string
		fast bool
	}{
		{`{}`, true},
		{"{}\r\n", true},
		{`{"a":[1,-0,[],{},{"b":[true,false,null,"x"]}],"c":{"d":{}}}`, true},
		{`{"startTime":1,"endTime":2,"start":-1}`, false},
		{`{"startTime":1,"endTime":2}`, true},
		{`{"source_labels":{"labels":["a=b","c"]},"dest_labels":{"labels":[]}}`, true},
		{`{"bytes_in":123456789012345,"bytes_out":12345678,"packets_in":0}`, true},
		{`{"a":1,"a":2}`, true}, // extras: setExtra, shared by both paths, replaces in place
		// Whole records for the general path.
		{` {"a":1}`, false},
		{`{"a": 1}`, false},
		{`{"a":"é"}`, false},
		{`{"a":"\n"}`, false},
		{`{"a":1.5}`, false},
		{`{"a":01}`, false},
		{`{"host":"a","host":"b"}`, false},
		{`{"a":1234567890123456}`, false},
		{`{"start_time":1,"startTime":2}`, false},
		{`{"source_labels":{"labels":["a=b"],"x":1}}`, false},
		{`{"a":[1,]}`, false},
		{`{"a":1}x`, false},
		{`{"a":1`, false},
	} {
		if got := DecodeJSONFast([]byte(tc.rec), &f, 0, maxDepth+1); got != tc.fast {
			t.Errorf("decodeJSONFast(%s) = %v, want %v", tc.rec, got, tc.fast)
		}
	}

	// The fast path stops short of every limit, so the general path alone
	// reports a breach.
	for _, tc := range []struct {
		rec             string
		members, levels int
	}{
		{`{"a":1,"b":2,"c":3}`, 2, 16},
		{`{"a":[[1]]}`, 0, 2},
		{`{"a":{"b":{}}}`, 0, 2},
	} {
		if DecodeJSONFast([]byte(tc.rec), &f, tc.members, tc.levels) {
			t.Errorf("decodeJSONFast(%s) within members %d, levels %d: took the fast path", tc.rec, tc.members, tc.levels)
		}
	}
}

// fastSeeds are records at the edges of what the fast path takes.
var fastSeeds = []string{
	`{"start_time":1234567,"end_time":12345678,"bytes_in":123456789,"bytes_out":1234567890123456,"packets_in":12345678901234567,"packets_out":0}`,
	`{"start_time":0,"end_time":00,"dest_port":-1,"source_port":1e3,"num_flows":1.0}`,
	`{"source_ip":"10.0.0.1","dest_ip":"fd00::1","proto":"TCP","source_labels":null,"dest_labels":[]}`,
	`{"source_ip":"10.0.0.01","dest_ip":"::ffff:10.1.2.3","proto":6,"reporter":true,"action":false}`,
	`{"source_labels":{"labels":["a=b","=c","d","e=f=g",""]},"dest_labels":{"labels":[1,"x=y"]}}`,
	`{"source_labels":{},"dest_labels":{"labels":[]},"policies":{"all_policies":[]}}`,
	`{"source_labels":{"labels":["a=b"]},"source_labels":{"labels":["c=d"]}}`,
	`{"host":"n","host":"m","x":1,"x":[2],"y":{"z":[{"w":null}]}}`,
	`{"startTime":1,"endTime":2,"start_time":3,"end_time":4}`,
	`{"start_time":1,"startTime":2}`,
	`{"a":[[[[[[[[1]]]]]]]],"b":{"c":{"d":{"e":{}}}}}`,
	`{"a":[1,2,],"b":2}`,
	`{"a":[1 2]}`,
	`{"a":{"b"}}`,
	`{"a":{"b":1,}}`,
	`{"a":[}`,
	`{"a":{]}`,
	`{"a":nul}`,
	`{"a":tru,"b":fals}`,
	`{"a":-}`,
	`{"a":"x`,
	`{"a"`,
	`{"a":`,
	`{"a":1,}`,
	`{"a":1}  ` + "\t\r\n",
	`{"a":1} x`,
	"{\"a\":\"\x7f\x01\"}",
	`{"dest_domains":["a.example","b\u0041"],"original_source_ips":null,"nat_outgoing_ports":[22661,26305]}`,
	`{"tcp_mean_send_congestion_window":1,"tcp_min_send_congestion_window":2,"proto":"icmp","hos":1,"hostt":2}`,
}

// flowState writes everything a Flow shows through its API, for comparing
// two decodings of one record.
func flowState(f *Flow) string {
	var s strings.Builder
	fmt.Fprintf(&s, "format %v\n", f.Format())
	for id := range NumFields {
		v := f.Get(id)
		fmt.Fprintf(&s, "%v: %v %q %d %v\n", id, v.Kind, v.Str, v.Int, v.IsInt)
	}
	for _, id := range []Field{SourceLabels, DestLabels} {
		fmt.Fprintf(&s, "%v: %q\n", id, f.Labels(id))
	}
	for _, id := range []Field{SourceIP, DestIP} {
		a, ok := f.Addr(id)
		fmt.Fprintf(&s, "%v: %v %v\n", id, a, ok)
	}
	for _, m := range f.Extra() {
		v, ok := f.Lookup(m.Key)
		fmt.Fprintf(&s, "extra %q: %+v; lookup %+v %v\n", m.Key, m.Value, v, ok)
	}
	for _, k := range []string{"startTime", "endTime", "start_time", "end_time"} {
		v, ok := f.Lookup(k)
		fmt.Fprintf(&s, "lookup %s: %+v %v\n", k, v, ok)
	}
	fmt.Fprintf(&s, "json %s\n", AppendJSON(nil, f))
	return s.String()
}

// FuzzDecodeJSONFast checks that DecodeJSON (the fast path, then the
// general one when it gives up) gives the same Flow and error as the
// general path alone, within several limits, into a Flow that held another
// record (JSON or text) and has learnt another member order.
func FuzzDecodeJSONFast(f *testing.F) {
	addRealSeeds(f, "*.jsonl")
	for _, s := range append(jsonSeeds, fastSeeds...) {
		f.Add([]byte(s))
	}
	// The Flow held a JSON or a text record before: nothing of it may
	// survive (decodeJSON clears only the fields the fast path did not
	// write).
	prevs := [][]byte{
		[]byte(`{"proto":"udp","source_labels":{"labels":["x=y"]},"start_time":1,"host":"h","extra":[1],"bytes_in":2,"dest_ip":"10.0.0.1","endTime":5}`),
		[]byte(docsLine),
		[]byte("1700000000 1700000300 wep default checkoutservice-598d5b586d-* [app=checkoutservice,tier=backend] wep staging web-7c8d9e6f5a-* [app=web,team=web] - - 6 - 8080 12 3 4 dst 25 767 18925 1073033 allow"),
	}
	limits := []struct {
		members, levels int
		limited         bool
	}{
		{0, maxDepth + 1, false},
		{DefaultLimits.Members, DefaultLimits.Depth, true},
		{3, 2, true},
		{5, 3, true},
		{1, 1, true},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl, general Flow
		for n, l := range limits {
			if err := Decode(prevs[n%len(prevs)], &fl); err != nil {
				t.Fatal(err)
			}
			for pass := range 2 { // the second with b's own member order learnt
				err := decodeJSON(b, &fl, l.members, l.levels, l.limited)
				gerr := decodeJSONGeneral(b, &general, l.members, l.levels, l.limited)
				if (err == nil) != (gerr == nil) || err != nil && err.Error() != gerr.Error() {
					t.Fatalf("limits %+v, pass %d: decodeJSON(%q) = %v, the general path alone: %v", l, pass, b, err, gerr)
				}
				if err != nil {
					continue
				}
				if got, want := flowState(&fl), flowState(&general); got != want {
					t.Fatalf("limits %+v, pass %d: decodeJSON(%q) differs from the general path:\n%s\nwant:\n%s", l, pass, b, got, want)
				}
			}
		}
	})
}
