package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBogusFlags: unknown or incomplete flags on run, config print and
// bench exited 2 with no message at all. Every command-line mistake now
// says what is wrong and prints the usage, exit 2.
func TestBogusFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr, besides "usage:"
	}{
		{[]string{"run", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"run", "--kafka.brokers"}, "flag needs an argument: --kafka.brokers"},
		{[]string{"run", "--demo-rate", "fast"}, `invalid argument "fast"`},
		{[]string{"run", "extra"}, `unexpected argument "extra"`},
		{[]string{"config", "print", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"config", "print", "--config"}, "flag needs an argument: --config"},
		{[]string{"config", "print", "extra"}, `unexpected argument "extra"`},
		{[]string{"config", "keys", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"config"}, "missing command"},
		{[]string{"config", "bogus"}, `unknown command "bogus"`},
		{[]string{"bench", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"bench", "--records"}, "flag needs an argument: --records"},
		{[]string{"bench", "extra"}, `unexpected argument "extra"`},
		{[]string{"filter", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"gen", "--count"}, "flag needs an argument: -count"},
		{[]string{"rules", "check", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"bogus"}, `unknown command "bogus"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), tc.args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "usage:") {
				t.Errorf("stderr lacks %q or the usage:\n%s", tc.want, stderr.String())
			}
		})
	}
}
