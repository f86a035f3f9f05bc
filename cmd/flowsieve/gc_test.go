package main

import (
	"math"
	"testing"
)

func TestGCPolicy(t *testing.T) {
	for _, c := range []struct {
		name     string
		env      map[string]string
		budget   int64
		reencode bool
		embedded bool
		want     gcSettings
	}{
		{"defaults", nil, 64 << 20, false, false, gcSettings{percent: 300, limit: 192 << 20}},
		{"small budget", nil, 1 << 20, false, false, gcSettings{percent: 300, limit: 66 << 20}},
		{"operator's GOGC", map[string]string{"GOGC": "50"}, 64 << 20, false, false, gcSettings{percent: -1, limit: 192 << 20}},
		{"operator's GOGC=off", map[string]string{"GOGC": "off"}, 64 << 20, false, false, gcSettings{percent: -1, limit: 192 << 20}},
		{"operator's limit", map[string]string{"GOMEMLIMIT": "900MiB"}, 64 << 20, false, false, gcSettings{percent: 300, limit: -1}},
		{"both", map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}, 64 << 20, false, false, gcSettings{percent: -1, limit: -1}},
		{"huge budget", nil, math.MaxInt64 / 2, false, false, gcSettings{percent: 300, limit: math.MaxInt64}},
		{"embedded broker", nil, 64 << 20, false, true, gcSettings{percent: -1, limit: -1}},
		{"json output", nil, 64 << 20, true, false, gcSettings{percent: 300, limit: 384 << 20}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := gcPolicy(func(k string) string { return c.env[k] }, c.budget, c.reencode, c.embedded)
			if got != c.want {
				t.Errorf("gcPolicy = %+v, want %+v", got, c.want)
			}
		})
	}
}
