package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
)

// The garbage collector's settings for `flowsieve run`.
//
// The pipeline's live heap is mostly the records in flight, which the
// in-flight budget bounds (input.max_inflight_bytes), and it allocates
// about as many bytes again per record as it reads. With Go's default
// (GOGC=100, no limit) the heap was collected every ~70 MB, 15 times per
// million text records, and the write barrier that is on while a
// collection marks cost more CPU than the marking itself (issue 13). So run
// lets the heap grow to four times the live data (GOGC=300) but never past
// a soft limit derived from the budget: the inputs in flight, about as many
// output bytes, and 64 MiB for the rest, 2 x max_inflight_bytes + 64 MiB
// (192 MiB by default): 5 collections per million records, and memory as
// bounded as before, by the budget. With output.format json a text input's
// kept record is about four times its size, so the outputs get four times
// the budget (384 MiB by default): a limit under the live heap would have
// the collector run without end. An operator's GOGC or GOMEMLIMIT
// (say, from a container's memory limit) takes precedence over either.
// With the embedded broker (make run, the demo) the process also holds
// every topic's records, which the budget does not bound: the limit would
// have the collector run without end once they outgrew it, so Go's
// defaults stay.

const (
	gcPercent   = 300
	gcLimitBase = 64 << 20
	// times input.max_inflight_bytes: the inputs and the outputs
	gcLimitPerBytes         = 2
	gcLimitPerBytesReencode = 5
)

// gcSettings is what tuneGC sets: -1 leaves a setting as it is.
type gcSettings struct {
	percent int
	limit   int64
}

// gcPolicy decides the collector's settings from the environment, the
// in-flight budget's bytes, whether kept records are re-encoded as JSON
// and whether the broker is embedded.
func gcPolicy(getenv func(string) string, budgetBytes int64, reencode, embedded bool) gcSettings {
	s := gcSettings{percent: -1, limit: -1}
	if embedded {
		return s
	}
	if getenv("GOGC") == "" {
		s.percent = gcPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		per := int64(gcLimitPerBytes)
		if reencode {
			per = gcLimitPerBytesReencode
		}
		s.limit = math.MaxInt64
		if budgetBytes <= (math.MaxInt64-gcLimitBase)/per {
			s.limit = per*budgetBytes + gcLimitBase
		}
	}
	return s
}

// apply sets the settings and describes the collector's for the log.
func (s gcSettings) apply() string {
	if s.percent >= 0 {
		debug.SetGCPercent(s.percent)
	}
	if s.limit >= 0 {
		debug.SetMemoryLimit(s.limit)
	}
	percent := debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	limit := debug.SetMemoryLimit(-1)
	l := "none"
	if limit != math.MaxInt64 {
		l = fmt.Sprintf("%d MiB", limit>>20)
	}
	return "GOGC=" + strconv.Itoa(percent) + ", memory limit " + l
}
