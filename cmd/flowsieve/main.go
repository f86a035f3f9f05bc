// Command flowsieve filters Calico flow logs on Kafka. See README.md.
//
// Every sub-command is a function func(ctx, args, stdout, stderr) int in a
// file of its own, so tests call them directly and main only dispatches.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Exit codes shared by all sub-commands.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and found problems, or failed
	exitUsage   = 2 // bad flags or arguments
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the pipeline (embedded broker when kafka.brokers is empty)", runCmd},
		{"filter", "judge flow-log files offline with a rule file", filterCmd},
		{"rules", "check, explain, diff and import rules (check, explain, diff, import-fluentd, import-fluent-bit)", rulesCmd},
		{"gen", "write synthetic Calico flow logs to stdout or a Kafka topic", genCmd},
		{"config", "print the effective config with secrets masked, or list every key (config print, config keys)", configCmd},
		{"ingest", "stream flows into Kafka as flow-log records (ingest goldmane: Calico Goldmane's Flows API)", ingestCmd},
		{"serve-feeds", "serve a directory of threat feed files over HTTP, for GlobalThreatFeeds to pull", serveFeedsCmd},
		{"bench", "end-to-end throughput benchmark on the embedded broker", benchCmd},
		{"version", "print the version, VCS revision, build date and Go version", versionCmd},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: flowsieve <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
}

func main() {
	ctx, stop := signalContext()
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" {
		return versionCmd(ctx, args[1:], stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "flowsieve: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}
