package goldmane

import (
	"testing"

	"github.com/flowsieve/flowsieve/internal/goldmanefake"
)

// One op is one flow of goldmanefake.Shapes (every endpoint type and
// policy-trace shape), converted to its record and key.
func BenchmarkConvert(b *testing.B) {
	flows := goldmanefake.Shapes(1764650000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Convert(flows[i%len(flows)]); err != nil {
			b.Fatal(err)
		}
	}
}
