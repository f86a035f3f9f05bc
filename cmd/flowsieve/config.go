package main

import (
	"context"
	"fmt"
	"io"
)

func configCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "flowsieve config: not built yet")
	return exitFailure
}
