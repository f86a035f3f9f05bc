package rules

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowsieve/flowsieve/internal/quote"
	"github.com/flowsieve/flowsieve/rules/feeds"
)

// DefaultReadTimeout bounds how long loading a rule file and its feeds may
// take in LoadFileContext's callers that set no deadline of their own (the
// Watcher's reloads): a file on a hung mount would otherwise hold a reload
// for ever.
const DefaultReadTimeout = 10 * time.Second

// openRegular opens a rule or feed file for reading. It must be a regular
// file (a symlink to one is followed): a FIFO, a device or a socket can
// block a read for ever, or never end, and a reload with it. The file is
// opened non-blocking, so that opening a FIFO does not wait for a writer,
// and checked once open, so it cannot be swapped between check and open.
func openRegular(path string) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("%s is not a regular file but %s; rule and feed files must be regular files (or symlinks to them)", path, fileKind(st.Mode()))
	}
	return fh, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "not a regular file"
}

// readRegular reads a whole regular file (see openRegular).
func readRegular(path string) ([]byte, error) {
	fh, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(fh)
}

// LoadFileContext is LoadFile that gives up when ctx ends (a signal, a
// deadline): the load runs on a goroutine of its own, and a read that
// hangs (a file on a hung mount) leaves that goroutine behind until the
// read returns, to see the context ended and stop. The error then names
// the file being read.
func LoadFileContext(ctx context.Context, path string) (*Set, error) {
	s, _, err := loadFileTried(ctx, path, nil)
	return s, err
}

// LoadFileWith is LoadFileContext with options: the feeds.Manager that
// pulls the GlobalThreatFeeds the rule file names.
func LoadFileWith(ctx context.Context, path string, o LoadOptions) (*Set, error) {
	s, _, err := loadFileTried(ctx, path, o.Feeds)
	return s, err
}

// hungReads counts loads given up on whose goroutine is still blocked in
// a read; past maxHungReads a new load fails at once instead of leaving
// one more goroutine behind on the same hung file.
var hungReads atomic.Int32

const maxHungReads = 4

// loadFileTried loads path within ctx and also returns the files it read
// or tried to read.
func loadFileTried(ctx context.Context, path string, fm *feeds.Manager) (*Set, []string, error) {
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, context.Cause(ctx))
	}
	if n := hungReads.Load(); n >= maxHungReads {
		return nil, nil, fmt.Errorf("not reading the rule files: %d earlier reads still hang (a hung mount?)", n)
	}
	type result struct {
		s     *Set
		files []string
		err   error
	}
	const running, finished, abandoned = 0, 1, 2
	var state atomic.Int32
	var reading atomic.Pointer[string]
	done := make(chan result, 1)
	go func() {
		s, files, err := loadFileWithin(ctx, path, &reading, fm)
		if state.CompareAndSwap(running, finished) {
			done <- result{s, files, err}
		} else {
			hungReads.Add(-1)
		}
	}()
	select {
	case r := <-done:
		return r.s, r.files, r.err
	case <-ctx.Done():
	}
	if !state.CompareAndSwap(running, abandoned) {
		r := <-done // finished meanwhile
		return r.s, r.files, r.err
	}
	hungReads.Add(1)
	file := path
	if p := reading.Load(); p != nil {
		file = *p
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, nil, fmt.Errorf("reading %s: timed out (a hung mount?)", file)
	}
	return nil, nil, fmt.Errorf("reading %s: %w", file, context.Cause(ctx))
}

// quoteCut quotes a value of the rule file in an error, cut short (a 50 KB
// regex is not worth repeating) and marked as cut.
func quoteCut(s string) string { return quote.Cut(s) }
