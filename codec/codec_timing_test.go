package codec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

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

// realFelix returns the records of flows-example-felix.jsonl, or skips.
func realFelix(b *testing.B) (recs [][]byte, avg int) {
	p := filepath.Join("..", "..", "shared", "calico-real", "flows-example-felix.jsonl")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Skipf("real felix records not available: %v", err)
	}
	total := 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			recs = append(recs, line)
			total += len(line)
		}
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
