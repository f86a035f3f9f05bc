package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// signalCause is the cause of the context main cancels on SIGINT or
// SIGTERM, so a command can exit as a shell expects of an interrupted
// program: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string {
	switch s.sig {
	case syscall.SIGINT:
		return "interrupted (SIGINT)"
	case syscall.SIGTERM:
		return "terminated (SIGTERM)"
	}
	return "stopped by " + s.sig.String()
}

// signalContext is cancelled, with a signalCause, on the first SIGINT or
// SIGTERM. The handler is then removed, so a second one ends the process
// at once if the command does not stop soon enough.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			cancel(signalCause{s})
		case <-done:
		}
		signal.Stop(sigs)
	}()
	return ctx, func() { close(done); cancel(nil) }
}

// interruptedCode is the exit status for a command stopped by ctx: 128 +
// the signal's number, or exitFailure when ctx ended otherwise.
func interruptedCode(ctx context.Context) int {
	var sc signalCause
	if errors.As(context.Cause(ctx), &sc) {
		if n, ok := sc.sig.(syscall.Signal); ok {
			return 128 + int(n)
		}
	}
	return exitFailure
}
