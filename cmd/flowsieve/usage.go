package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// parsePflags parses args for a command whose flags are a pflag set (run,
// config, bench). pflag with ContinueOnError reports nothing itself, so a
// mistake (an unknown flag, a flag without its value, a bad value, an
// argument the command does not take) is written here: what is wrong,
// then the usage. ok is false when the command must stop, with code: exitOK
// after --help, exitUsage after a mistake.
func parsePflags(fs *pflag.FlagSet, args []string, usage string, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fmt.Fprintln(stderr, "\nflags:")
		fmt.Fprint(stderr, fs.FlagUsages())
	}
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK, false
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q (this command takes flags only)", fs.Arg(0))
	}
	if err != nil {
		name := fs.Name()
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		fs.Usage()
		// The flag list can be long: say it once more where it is seen.
		if strings.Count(fs.FlagUsages(), "\n") > 20 {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		return exitUsage, false
	}
	return 0, true
}
