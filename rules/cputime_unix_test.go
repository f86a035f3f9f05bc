//go:build unix

package rules

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used. Benchmarks report CPU
// time per operation besides wall time, because the machine they run on is
// shared: wall time then counts the time other processes held the core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
