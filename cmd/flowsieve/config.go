package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/flowsieve/flowsieve/config"
)

//go:generate sh -c "go run . config keys --markdown > ../../docs/config-reference.md"

const configUsage = `usage: flowsieve config print [--config file] [--section.key=value ...]
       flowsieve config keys [--markdown]`

// configCmd: `flowsieve config print [--config file] [--key=value ...]`
// prints the effective configuration (defaults, file, FLOWSIEVE_*
// environment, flags merged) as YAML with secrets masked; `flowsieve config
// keys [--markdown]` lists every key (--markdown: docs/config-reference.md).
func configCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "keys" {
		return configKeys(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "print" {
		if len(args) == 0 {
			fmt.Fprintln(stderr, "flowsieve config: missing command (print or keys)")
		} else if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprintln(stdout, configUsage)
			return exitOK
		} else {
			fmt.Fprintf(stderr, "flowsieve config: unknown command %q (want print or keys)\n", args[0])
		}
		fmt.Fprintln(stderr, configUsage)
		return exitUsage
	}
	fs, file := newFlagSet("flowsieve config print", stderr)
	// run's own flags are accepted so a run command line can be pasted.
	fs.Bool("demo", false, "ignored")
	fs.Int("demo-rate", 0, "ignored")
	if code, ok := parsePflags(fs, args[1:], configUsage, stderr); !ok {
		return code
	}
	cfg, err := config.Load(config.Sources{File: *file, Environ: os.Environ(), Flags: fs})
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve config print:", err)
		return exitFailure
	}
	if err := cfg.Print(stdout); err != nil {
		fmt.Fprintln(stderr, "flowsieve config print:", err)
		return exitFailure
	}
	return exitOK
}

func configKeys(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("flowsieve config keys", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	markdown := fs.Bool("markdown", false, "print the reference page (docs/config-reference.md) as Markdown")
	if code, ok := parsePflags(fs, args, configUsage, stderr); !ok {
		return code
	}
	write := config.WriteKeys
	if *markdown {
		write = config.WriteReference
	}
	if err := write(stdout); err != nil {
		fmt.Fprintln(stderr, "flowsieve config keys:", err)
		return exitFailure
	}
	return exitOK
}
