package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"
)

const serveFeedsUsage = `usage: flowsieve serve-feeds --dir DIR [--listen ADDR]

Serves the files of DIR over HTTP, read-only, for GlobalThreatFeeds to pull
(the compose stack's feed server, or a local trial of a feed): GET and HEAD,
with Last-Modified, so a pull of an unchanged file is a 304. Not meant to
face the Internet: there is no TLS and no authentication.`

func serveFeedsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("flowsieve serve-feeds", pflag.ContinueOnError)
	dir := fs.String("dir", "", "directory whose files are served")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	if code, ok := parsePflags(fs, args, serveFeedsUsage, stderr); !ok {
		return code
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "flowsieve serve-feeds: --dir is required")
		return exitUsage
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "flowsieve serve-feeds: --dir %s is not a directory\n", *dir)
		return exitFailure
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "flowsieve serve-feeds: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "serving %s on http://%s/\n", *dir, ln.Addr())
	if err := serveFeeds(ctx, ln, *dir); err != nil {
		fmt.Fprintf(stderr, "flowsieve serve-feeds: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// serveFeeds serves dir's files on ln until ctx ends.
func serveFeeds(ctx context.Context, ln net.Listener, dir string) error {
	files := http.FileServer(http.Dir(dir))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.Error(w, "read-only", http.StatusMethodNotAllowed)
				return
			}
			files.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
