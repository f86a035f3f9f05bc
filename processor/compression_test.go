package processor

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
)

// BenchmarkCompression compresses a produce batch of synthetic flow logs
// with each codec franz-go offers, as the producer does (its default
// compressor): MB/s of input, and ratio is input bytes per compressed
// byte. docs/benchmarks.md records the figures behind output.compression's
// default.
func BenchmarkCompression(b *testing.B) {
	for fi, format := range []codec.Format{codec.FormatText, codec.FormatJSON} {
		for _, size := range []int{16 << 10, 128 << 10, 1 << 20} {
			src := flowBatch(format, size)
			for _, name := range []string{"none", "lz4", "snappy", "zstd", "gzip"} {
				c, _ := compressionCodec(name)
				comp, err := kgo.DefaultCompressor(c)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(fmt.Sprintf("%s/%dKiB/%s", []string{"text", "json"}[fi], size>>10, name), func(b *testing.B) {
					var buf bytes.Buffer
					var out int
					b.SetBytes(int64(len(src)))
					for b.Loop() {
						buf.Reset()
						if comp == nil {
							out = len(src)
							continue
						}
						got, _ := comp.Compress(&buf, src)
						out = len(got)
					}
					b.ReportMetric(float64(len(src))/float64(out), "ratio")
				})
			}
		}
	}
}

// flowBatch is about size bytes of flow-log records, framed roughly as in
// a Kafka record batch (a few bytes of length and offset per record).
func flowBatch(format codec.Format, size int) []byte {
	g := flowgen.New(1, flowgen.Options{})
	var batch []byte
	for i := 0; len(batch) < size; i++ {
		batch = append(batch, 0, byte(i), byte(i>>8), 2)
		batch = g.Append(batch, format)
	}
	return batch
}
