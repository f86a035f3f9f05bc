package codec_test

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/internal/calicoreal"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
)

// One op is one record, so ns/op is ns/record; SetBytes uses the average
// record size.

func synthetic(format codec.Format, n int) (recs [][]byte, avg int) {
	g := flowgen.New(1, flowgen.Options{})
	total := 0
	for range n {
		r := g.Append(nil, format)
		recs = append(recs, r)
		total += len(r)
	}
	return recs, total / n
}

// realFelix returns the records of flows-example-felix.jsonl.
func realFelix(b *testing.B) (recs [][]byte, avg int) {
	recs = calicoreal.Lines(b, calicoreal.FelixExample)
	total := 0
	for _, line := range recs {
		total += len(line)
	}
	return recs, total / len(recs)
}

// cpuTimer reports the thread CPU time per op (cpu-ns/op) next to the wall
// time, which on a shared machine also counts other processes.
type cpuTimer struct {
	b     *testing.B
	start time.Duration
	ok    bool
}

func startCPU(b *testing.B) cpuTimer {
	runtime.LockOSThread()
	start, ok := threadCPU()
	return cpuTimer{b: b, start: start, ok: ok}
}

func (t cpuTimer) stop() {
	end, ok := threadCPU()
	runtime.UnlockOSThread()
	if t.ok && ok && t.b.N > 0 {
		t.b.ReportMetric(float64(end-t.start)/float64(t.b.N), "cpu-ns/op")
	}
}

func benchDecode(b *testing.B, recs [][]byte, avg int, decode func([]byte, *codec.Flow) error) {
	b.ReportAllocs()
	b.SetBytes(int64(avg))
	var f codec.Flow
	i := 0
	cpu := startCPU(b)
	for b.Loop() {
		if err := decode(recs[i], &f); err != nil {
			b.Fatal(err)
		}
		if i++; i == len(recs) {
			i = 0
		}
	}
	cpu.stop()
}

func BenchmarkDecodeText(b *testing.B) {
	recs, avg := synthetic(codec.FormatText, 1000)
	b.Run("synthetic", func(b *testing.B) { benchDecode(b, recs, avg, codec.DecodeText) })
	docs := []byte("1528842551 1528842851 wep dev rails-81531* - wep dev memcached-38456* - - - 6 - 3000 7 3 4 out 154 61 70111 49404 allow")
	b.Run("docs-example", func(b *testing.B) { benchDecode(b, [][]byte{docs}, len(docs), codec.DecodeText) })
	b.Run("felix-real-as-text", func(b *testing.B) {
		recs, _ := realFelix(b)
		text, total := make([][]byte, len(recs)), 0
		for i, r := range recs {
			text[i] = felixAsText(b, r)
			total += len(text[i])
		}
		benchDecode(b, text, total/len(text), codec.DecodeText)
	})
}

// felixAsText writes a JSON flow log as felix's 24 text columns, so the
// text parser can be measured on real names, labels and counts.
func felixAsText(b *testing.B, rec []byte) []byte {
	var f codec.Flow
	if err := codec.DecodeJSON(rec, &f); err != nil {
		b.Fatal(err)
	}
	var out []byte
	for col := 1; col <= codec.TextColumns; col++ {
		if col > 1 {
			out = append(out, ' ')
		}
		name := codec.TextColumnName(col)
		id, _ := codec.FieldByName(map[string]string{
			"startTime": "start_time", "endTime": "end_time", "srcType": "source_type",
			"srcNamespace": "source_namespace", "srcName": "source_name_aggr", "srcLabels": "source_labels",
			"dstType": "dest_type", "dstNamespace": "dest_namespace", "dstName": "dest_name_aggr",
			"dstLabels": "dest_labels", "srcIP": "source_ip", "dstIP": "dest_ip", "proto": "proto",
			"srcPort": "source_port", "dstPort": "dest_port", "numFlows": "num_flows",
			"numFlowsStarted": "num_flows_started", "numFlowsCompleted": "num_flows_completed",
			"reporter": "reporter", "packetsIn": "packets_in", "packetsOut": "packets_out",
			"bytesIn": "bytes_in", "bytesOut": "bytes_out", "action": "action",
		}[name])
		v := f.Get(id)
		switch {
		case id == codec.SourceLabels || id == codec.DestLabels:
			if v.Kind != codec.KindObject {
				out = append(out, '-')
				break
			}
			out = append(out, '[')
			for i, l := range f.Labels(id) {
				if i > 0 {
					out = append(out, ',')
				}
				out = append(out, l.Key+"="+l.Value...)
			}
			out = append(out, ']')
		case id == codec.Proto && v.Kind != codec.KindAbsent:
			out = strconv.AppendInt(out, v.Int, 10)
		case v.Kind == codec.KindString && v.Str != "", v.Kind == codec.KindNumber:
			out = append(out, v.Str...)
		default:
			out = append(out, '-')
		}
	}
	return out
}

func BenchmarkDecodeJSON(b *testing.B) {
	recs, avg := synthetic(codec.FormatJSON, 1000)
	b.Run("synthetic", func(b *testing.B) { benchDecode(b, recs, avg, codec.DecodeJSON) })
	b.Run("felix-real", func(b *testing.B) {
		recs, avg := realFelix(b)
		benchDecode(b, recs, avg, codec.DecodeJSON)
	})
}

// BenchmarkDecode measures the per-record format detection on a mix.
func BenchmarkDecode(b *testing.B) {
	text, _ := synthetic(codec.FormatText, 500)
	js, _ := synthetic(codec.FormatJSON, 500)
	var recs [][]byte
	total := 0
	for i := range text {
		recs = append(recs, text[i], js[i])
		total += len(text[i]) + len(js[i])
	}
	b.Run("mixed-synthetic", func(b *testing.B) { benchDecode(b, recs, total/len(recs), codec.Decode) })
}

func benchEncode(b *testing.B, recs [][]byte, avg int) {
	flows := make([]codec.Flow, len(recs))
	for i := range recs {
		if err := codec.Decode(recs[i], &flows[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(avg))
	buf := make([]byte, 0, 4096)
	i := 0
	cpu := startCPU(b)
	for b.Loop() {
		buf = codec.AppendJSON(buf[:0], &flows[i])
		if i++; i == len(flows) {
			i = 0
		}
	}
	cpu.stop()
}

func BenchmarkAppendJSON(b *testing.B) {
	text, avg := synthetic(codec.FormatText, 1000)
	b.Run("from-text-synthetic", func(b *testing.B) { benchEncode(b, text, avg) })
	js, avg := synthetic(codec.FormatJSON, 1000)
	b.Run("from-json-synthetic", func(b *testing.B) { benchEncode(b, js, avg) })
	b.Run("from-json-felix-real", func(b *testing.B) {
		recs, avg := realFelix(b)
		benchEncode(b, recs, avg)
	})
}

func TestDecodeTextZeroAllocsSynthetic(t *testing.T) {
	recs, _ := synthetic(codec.FormatText, 200)
	var f codec.Flow
	for _, r := range recs { // warm the Flow's buffers
		if err := codec.DecodeText(r, &f); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if err := codec.DecodeText(recs[i%len(recs)], &f); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("DecodeText: %v allocs per record into a reused Flow, want 0", allocs)
	}
}

func TestDecodeJSONZeroAllocsSynthetic(t *testing.T) {
	recs, _ := synthetic(codec.FormatJSON, 200)
	var f codec.Flow
	for _, r := range recs {
		if err := codec.DecodeJSON(r, &f); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if err := codec.DecodeJSON(recs[i%len(recs)], &f); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("DecodeJSON: %v allocs per record into a reused Flow, want 0", allocs)
	}
}

// BenchmarkOutputAppend writes kept records sampled (counters scaled in
// the record's own form) and projected; decoding is outside the loop.
func BenchmarkOutputAppend(b *testing.B) {
	proj, err := codec.NewProjection(false, [][]string{{"source_namespace"}, {"dest_namespace"}, {"action"}, {"bytes_in"}, {"bytes_out"}})
	if err != nil {
		b.Fatal(err)
	}
	s := codec.Scale{Rate: 0.25, Dither: 0.5}
	text, avg := synthetic(codec.FormatText, 1)
	felix, favg := realFelix(b)
	for _, c := range []struct {
		name string
		rec  []byte
		avg  int
		o    codec.Output
	}{
		{"sampled-text", text[0], avg, codec.Output{}},
		{"sampled-json-felix-real", felix[0], favg, codec.Output{}},
		{"projected-json-felix-real", felix[0], favg, codec.Output{Fields: proj}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var f codec.Flow
			if err := codec.Decode(c.rec, &f); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 2*len(c.rec)+64)
			b.SetBytes(int64(c.avg))
			b.ReportAllocs()
			for b.Loop() {
				buf = c.o.Append(buf[:0], c.rec, &f, s)
			}
		})
	}
}
