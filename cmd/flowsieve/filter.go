package main

import (
	"context"
	"fmt"
	"io"
)

func filterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "flowsieve filter: not built yet")
	return exitFailure
}
