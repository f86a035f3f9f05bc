package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/flowsieve/flowsieve/config"
)

// configCmd: `flowsieve config print [--config file] [--key=value ...]`
// prints the effective configuration (defaults, file, FLOWSIEVE_*
// environment, flags merged) as YAML with secrets masked.
func configCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "print" {
		fmt.Fprintln(stderr, "usage: flowsieve config print [--config file] [--section.key=value ...]")
		return exitUsage
	}
	fs, file := newFlagSet("flowsieve config print", stderr)
	// run's own flags are accepted so a run command line can be pasted.
	fs.Bool("demo", false, "ignored")
	fs.Int("demo-rate", 0, "ignored")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return exitUsage
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
