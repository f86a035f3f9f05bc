package flowgen

import (
	"testing"

	"github.com/flowsieve/flowsieve/codec"
)

func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct {
		name   string
		format codec.Format
	}{{"text", codec.FormatText}, {"json", codec.FormatJSON}} {
		b.Run(tc.name, func(b *testing.B) {
			g := New(1, Options{})
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = g.Append(buf[:0], tc.format)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
