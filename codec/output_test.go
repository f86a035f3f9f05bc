package codec_test

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

const textRec = "1699374848 1699375161 wep default frontend-* app=frontend net - pub - - 8.8.8.8 6 - 80 3 2 1 src 10 20 2540 763 allow"

func TestScaleInt(t *testing.T) {
	for _, c := range []struct {
		name string
		s    codec.Scale
		n    int64
		want int64
	}{
		{"not sampled", codec.Scale{}, 7, 7},
		{"rate 1", codec.Scale{Rate: 1}, 7, 7},
		{"quarter", codec.Scale{Rate: 0.25, Dither: 0.9}, 7, 28},
		{"tenth, float error rounds up", codec.Scale{Rate: 0.1, Dither: 0.5}, 3, 30},
		{"third, fraction above dither", codec.Scale{Rate: 0.3, Dither: 0.2}, 1, 4},
		{"third, fraction below dither", codec.Scale{Rate: 0.3, Dither: 0.5}, 1, 3},
		{"zero", codec.Scale{Rate: 0.3, Dither: 0}, 0, 0},
		{"saturates", codec.Scale{Rate: 0.001}, math.MaxInt64 / 10, math.MaxInt64},
		{"negative saturates", codec.Scale{Rate: 0.001}, math.MinInt64 / 10, math.MinInt64},
	} {
		if got := c.s.Int(c.n); got != c.want {
			t.Errorf("%s: Scale%+v.Int(%d) = %d, want %d", c.name, c.s, c.n, got, c.want)
		}
	}
}

// TestScaleIntUnbiased: with the dither uniform, scaled counters sum to
// n/rate in expectation, also where 1/rate is not a whole number.
func TestScaleIntUnbiased(t *testing.T) {
	const n = 10000
	for _, rate := range []float64{0.3, 0.07, 0.5, 0.999} {
		var sum float64
		for i := range n {
			s := codec.Scale{Rate: rate, Dither: (float64(i) + 0.5) / n}
			sum += float64(s.Int(1))
		}
		if want := n / rate; math.Abs(sum-want) > 1 {
			t.Errorf("rate %v: sum %v, want %v", rate, sum, want)
		}
	}
}

func projection(t *testing.T, exclude bool, paths ...string) *codec.Projection {
	t.Helper()
	var ps [][]string
	for _, p := range paths {
		ps = append(ps, splitPath(p))
	}
	p, err := codec.NewProjection(exclude, ps)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func splitPath(p string) []string {
	var out []string
	for _, s := range bytes.Split([]byte(p), []byte(".")) {
		out = append(out, string(s))
	}
	return out
}

func TestOutputAppend(t *testing.T) {
	quarter := codec.Scale{Rate: 0.25}
	for _, c := range []struct {
		name string
		rec  string
		out  func(t *testing.T) codec.Output
		s    codec.Scale
		want string
	}{
		{name: "text as it came", rec: textRec, s: codec.Scale{}, want: textRec},
		{name: "text scaled in its columns", rec: textRec, s: quarter,
			want: "1699374848 1699375161 wep default frontend-* app=frontend net - pub - - 8.8.8.8 6 - 80 12 8 4 src 40 80 10160 3052 allow"},
		{name: "text with tabs, runs of blanks and CR LF keeps them", s: quarter,
			rec:  " 1 2\twep ns a - net - pub - - - 6 - 80  3 2 1 src 10 20 30 40 deny\r\n",
			want: " 1 2\twep ns a - net - pub - - - 6 - 80  12 8 4 src 40 80 120 160 deny\r\n"},
		{name: "text absent counter stays -", s: quarter,
			rec:  "1 2 wep ns a - net - pub - - - 6 - 80 - 2 1 src 10 20 30 40 deny",
			want: "1 2 wep ns a - net - pub - - - 6 - 80 - 8 4 src 40 80 120 160 deny"},
		{name: "JSON scaled in place, rate member added", s: quarter,
			rec:  `{"num_flows":2, "bytes_in" : 100,"action":"allow","http_requests_allowed_in":3,"tcp_mean_mss":1400}`,
			want: `{"num_flows":8, "bytes_in" : 400,"action":"allow","http_requests_allowed_in":12,"tcp_mean_mss":1400,"flowsieve_sample_rate":0.25}`},
		{name: "JSON sampled twice multiplies the rate", s: quarter,
			rec:  `{"flowsieve_sample_rate":0.5,"bytes_out":10}`,
			want: `{"flowsieve_sample_rate":0.125,"bytes_out":40}`},
		{name: "JSON float counter left as written", s: quarter,
			rec:  `{"bytes_out":1.5} `,
			want: `{"bytes_out":1.5,"flowsieve_sample_rate":0.25} `},
		{name: "JSON empty object", s: quarter, rec: `{}`, want: `{"flowsieve_sample_rate":0.25}`},
		{name: "JSON normalised", rec: `{ "action" : "allow" }`, s: codec.Scale{},
			out:  func(*testing.T) codec.Output { return codec.Output{JSON: true} },
			want: `{"action":"allow"}`},
		{name: "text to JSON, scaled", rec: textRec, s: quarter,
			out: func(*testing.T) codec.Output { return codec.Output{JSON: true} },
			want: `{"start_time":1699374848,"end_time":1699375161,"source_name_aggr":"frontend-*","source_namespace":"default","source_type":"wep","source_labels":{"labels":["app=frontend"]},` +
				`"dest_ip":"8.8.8.8","dest_name":"pub","dest_name_aggr":"pub","dest_port":80,"dest_type":"net","proto":"tcp","action":"allow","reporter":"src",` +
				`"bytes_in":10160,"bytes_out":3052,"num_flows":12,"num_flows_started":8,"num_flows_completed":4,"packets_in":40,"packets_out":80,"flowsieve_sample_rate":0.25}`},
		{name: "text projected", rec: textRec, s: codec.Scale{},
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, false, "bytes_out", "source_namespace", "startTime")}
			},
			want: `{"start_time":1699374848,"source_namespace":"default","bytes_out":763}`},
		{name: "projected, sampled, rate not listed", rec: textRec, s: quarter,
			out:  func(t *testing.T) codec.Output { return codec.Output{Fields: projection(t, false, "bytes_out")} },
			want: `{"bytes_out":3052}`},
		{name: "projected, sampled, rate listed", rec: textRec, s: quarter,
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, false, "bytes_out", "flowsieve_sample_rate")}
			},
			want: `{"bytes_out":3052,"flowsieve_sample_rate":0.25}`},
		{name: "removed, sampled", rec: `{"a":1,"bytes_out":2,"source_labels":{"labels":[]}}`, s: quarter,
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, true, "source_labels", "a")}
			},
			want: `{"bytes_out":8,"flowsieve_sample_rate":0.25}`},
		{name: "removed, rate removed too", rec: `{"bytes_out":2}`, s: quarter,
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, true, "flowsieve_sample_rate")}
			},
			want: `{"bytes_out":8}`},
		{name: "camelCase start time kept under its name", rec: `{"startTime":5,"endTime":6,"x":1}`,
			out:  func(t *testing.T) codec.Output { return codec.Output{Fields: projection(t, false, "start_time")} },
			want: `{"startTime":5}`},
		{name: "nested kept", rec: `{"k8s":{"pod":"a","ns":{"name":"n","uid":"u"},"node":"x"},"action":"allow","s":"str"}`,
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, false, "k8s.pod", "k8s.ns.uid", "k8s.missing", "s.x", "action")}
			},
			want: `{"k8s":{"pod":"a","ns":{"uid":"u"}},"action":"allow"}`},
		{name: "nested kept, nothing found, member left out", rec: `{"k8s":{"pod":"a"},"action":"allow"}`,
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, false, "k8s.node", "action")}
			},
			want: `{"action":"allow"}`},
		{name: "nested removed", rec: `{"k8s":{"pod":"a","ns":{"name":"n","uid":"u"},"node":"x"},"s":"str","source_labels":{"labels":["a=b"],"x":1}}`,
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, true, "k8s.ns.uid", "k8s.node", "s.x", "source_labels.x")}
			},
			want: `{"k8s":{"pod":"a","ns":{"name":"n"}},"s":"str","source_labels":{"labels":["a=b"]}}`},
		{name: "member and a member inside it: whole", rec: `{"k8s":{"pod":"a","node":"x"}}`,
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, false, "k8s.pod", "k8s")}
			},
			want: `{"k8s":{"pod":"a","node":"x"}}`},
		{name: "escaped member names", rec: `{"k\u0038s":{"p\u006fd":"a","node":"x"}}`,
			out:  func(t *testing.T) codec.Output { return codec.Output{Fields: projection(t, false, "k8s.pod")} },
			want: `{"k8s":{"p\u006fd":"a"}}`},
		{name: "text labels nested", rec: textRec,
			out: func(t *testing.T) codec.Output {
				return codec.Output{Fields: projection(t, false, "source_labels.labels")}
			},
			want: `{"source_labels":{"labels":["app=frontend"]}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var o codec.Output
			if c.out != nil {
				o = c.out(t)
			}
			raw := []byte(c.rec)
			var f codec.Flow
			if err := codec.Decode(raw, &f); err != nil {
				t.Fatal(err)
			}
			got := string(o.Append(nil, raw, &f, c.s))
			if got != c.want {
				t.Fatalf("got\n%s\nwant\n%s", got, c.want)
			}
			if o.Verbatim(c.s) && got != c.rec {
				t.Errorf("Verbatim, but the output is not the input")
			}
			var g codec.Flow
			if err := codec.Decode([]byte(got), &g); err != nil {
				t.Errorf("output does not decode: %v", err)
			}
		})
	}
}

// TestOutputAmendedFlow: a sampled JSON flow whose counters were set in
// code (their text is not in the input) is written from its fields.
func TestOutputAmendedFlow(t *testing.T) {
	rec := []byte(`{"bytes_in":1,"action":"allow"}`)
	var f codec.Flow
	if err := codec.Decode(rec, &f); err != nil {
		t.Fatal(err)
	}
	f.Set(codec.BytesIn, codec.Value{Str: "5", Int: 5, Kind: codec.KindNumber, IsInt: true})
	got := string(codec.Output{}.Append(nil, rec, &f, codec.Scale{Rate: 0.5}))
	if want := `{"bytes_in":10,"action":"allow","flowsieve_sample_rate":0.5}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestProjectionFelixRecords: the real felix records, projected, hold only
// the listed fields, parse as JSON and are smaller.
func TestProjectionFelixRecords(t *testing.T) {
	keep := []string{"start_time", "end_time", "source_namespace", "source_name_aggr", "dest_namespace",
		"dest_name_aggr", "dest_port", "proto", "action", "reporter", "bytes_in", "bytes_out", "num_flows"}
	o := codec.Output{Fields: projection(t, false, keep...)}
	var f codec.Flow
	var in, out int
	var buf []byte
	lines := calicoreal.Lines(t, calicoreal.FelixExample)
	for _, line := range lines {
		if err := codec.Decode(line, &f); err != nil {
			t.Fatal(err)
		}
		buf = o.Append(buf[:0], line, &f, codec.Scale{})
		var m map[string]any
		if err := json.Unmarshal(buf, &m); err != nil {
			t.Fatalf("%s: %v", buf, err)
		}
		for k := range m {
			if !slices.Contains(keep, k) {
				t.Errorf("member %q not listed", k)
			}
		}
		if m["action"] == nil || m["bytes_in"] == nil {
			t.Errorf("listed members missing: %s", buf)
		}
		in += len(line)
		out += len(buf)
	}
	if out*3 > in {
		t.Errorf("projection kept %d of %d bytes; expected under a third", out, in)
	}
	t.Logf("%d felix records: %d bytes in, %d out", len(lines), in, out)
}

func TestNewProjectionErrors(t *testing.T) {
	for _, paths := range [][][]string{nil, {{}}, {{""}}} {
		if _, err := codec.NewProjection(false, paths); err == nil {
			t.Errorf("%q: no error", paths)
		}
	}
}

// TestOutputAllocs: writing into a buffer with room allocates nothing,
// sampled or projected, text or JSON.
func TestOutputAllocs(t *testing.T) {
	json := calicoreal.Lines(t, calicoreal.FelixExample)[0]
	proj := projection(t, false, "source_namespace", "bytes_in", "source_labels.labels", "flowsieve_sample_rate")
	for _, c := range []struct {
		name string
		rec  []byte
		o    codec.Output
	}{
		{"text scaled", []byte(textRec), codec.Output{}},
		{"JSON scaled", json, codec.Output{}},
		{"text projected", []byte(textRec), codec.Output{Fields: proj}},
		{"JSON projected", json, codec.Output{Fields: proj}},
		{"JSON normalised", json, codec.Output{JSON: true}},
	} {
		var f codec.Flow
		if err := codec.Decode(c.rec, &f); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, 4*len(c.rec))
		s := codec.Scale{Rate: 0.3, Dither: 0.4}
		if n := testing.AllocsPerRun(100, func() { buf = c.o.Append(buf[:0], c.rec, &f, s) }); n != 0 {
			t.Errorf("%s: %v allocations per record", c.name, n)
		}
	}
}
