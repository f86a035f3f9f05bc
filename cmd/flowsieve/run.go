package main

import (
	"context"
	"fmt"
	"io"
)

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "flowsieve run: not built yet")
	return exitFailure
}
