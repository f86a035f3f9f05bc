package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Mistakes on `flowsieve ingest` say what is wrong, print the usage and
// exit 2, before anything is dialled.
func TestIngestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest"}, "missing source"},
		{[]string{"ingest", "kinesis"}, `unknown source "kinesis"`},
		{[]string{"ingest", "goldmane", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"ingest", "goldmane", "extra"}, `unexpected argument "extra"`},
		{[]string{"ingest", "goldmane", "--brokers", "k:9092"}, "required: --ca, --cert, --key"},
		{[]string{"ingest", "goldmane", "--ca", "a", "--cert", "b", "--key", "c"}, "required: --brokers"},
		{[]string{"ingest", "goldmane", "--ca", "a", "--cert", "b", "--key", "c", "--brokers", "k:9092", "--log-level", "loud"}, "loud"},
		{[]string{"ingest", "goldmane-fake", "--tick"}, "flag needs an argument: --tick"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := dispatch(context.Background(), tc.args, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}
