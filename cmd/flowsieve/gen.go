package main

import (
	"context"
	"fmt"
	"io"
)

func genCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "flowsieve gen: not built yet")
	return exitFailure
}
