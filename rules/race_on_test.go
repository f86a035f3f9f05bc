//go:build race

package rules

// The race detector's instrumentation allocates; allocation checks skip.
const raceEnabled = true
