package codec_test

import (
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

// TestDecodeJSONFastPath checks that felix's real records and flowgen's
// take DecodeJSON's fast path, within DecodeJSON's limits and the default
// Limits, before and after the Flow has learnt their member order. (The
// last of felix's own test records is cut short: the general path words
// its error.)
func TestDecodeJSONFastPath(t *testing.T) {
	var recs [][]byte
	for _, name := range []string{calicoreal.FelixExample, calicoreal.FelixTestdata, calicoreal.ClinicMultitool, calicoreal.FakeLogGenTest} {
		recs = append(recs, calicoreal.Lines(t, name)...)
	}
	g := flowgen.New(1, flowgen.Options{})
	for range 200 {
		recs = append(recs, g.Append(nil, codec.FormatJSON))
	}
	var f codec.Flow
	for _, l := range []struct{ members, levels int }{
		{0, codec.MaxDepth},
		{codec.DefaultLimits.Members, codec.DefaultLimits.Depth},
	} {
		for pass := range 2 {
			for _, r := range recs {
				valid := codec.DecodeJSON(r, &f) == nil
				if codec.DecodeJSONFast(r, &f, l.members, l.levels) != valid {
					t.Errorf("limits %+v, pass %d: the fast path took %v on %s", l, pass, !valid, r)
				}
			}
		}
	}
}
