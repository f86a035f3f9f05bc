package main

import (
	"context"
	"fmt"
	"io"
)

func rulesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "flowsieve rules: not built yet")
	return exitFailure
}
