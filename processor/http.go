package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"

	"github.com/flowsieve/flowsieve/rules"
)

// HTTPOptions are the metrics listener's settings besides its address.
type HTTPOptions struct {
	// WebConfigFile is an exporter-toolkit web configuration file, the
	// --web.config.file of Prometheus and its exporters: TLS, client
	// certificates, basic auth with bcrypt hashes. It applies to every
	// path of the listener. The toolkit reads it again for every TLS
	// handshake and every request, so edits (a renewed certificate, a new
	// user) apply without a restart; whether TLS is on at all is decided
	// at start. Empty: plain HTTP, open to anyone who reaches the port.
	WebConfigFile string
	// Pprof adds net/http/pprof's /debug/pprof/ paths (behind the same
	// web configuration).
	Pprof bool
	// ReadyWarnings, when set, lists problems a ready /readyz names one a
	// line ("warning: ...") without turning readiness off: a stale threat
	// feed still serves its last good data.
	ReadyWarnings func() []string
	// Rules, when set, serves GET /rules: the live and shadow rule files,
	// the versions serving, when they loaded, and their last loads.
	Rules func() RulesStatus
}

// RulesStatus is GET /rules' JSON: what each rule file's watcher reports
// (rules.Watcher.Status); Shadow is null without rules.shadow_file.
type RulesStatus struct {
	Live   rules.Status  `json:"live"`
	Shadow *rules.Status `json:"shadow"`
}

// Handler serves /metrics (Prometheus), /healthz (the process is alive)
// and /readyz (group joined, rules loaded, producer healthy; 503 with the
// reason otherwise).
func (p *Pipeline) Handler() http.Handler {
	return p.handler(HTTPOptions{})
}

func (p *Pipeline) handler(o HTTPOptions) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(p.cfg.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := p.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
		if o.ReadyWarnings != nil {
			for _, line := range o.ReadyWarnings() {
				_, _ = w.Write([]byte("warning: " + line + "\n"))
			}
		}
	})
	if o.Rules != nil {
		mux.HandleFunc("GET /rules", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(o.Rules())
		})
	}
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// CheckWebConfig reads a web configuration file and the certificates it
// names as Serve will, so that a bad one stops start-up rather than every
// scrape. Empty path: nothing to check.
func CheckWebConfig(path string) error {
	if path == "" {
		return nil
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("metrics.web_config_file %s: %w", path, err)
	}
	return nil
}

// Serve serves the listener's paths on ln, with o's web configuration,
// until ctx ends; it closes ln.
func (p *Pipeline) Serve(ctx context.Context, ln net.Listener, o HTTPOptions) error {
	if err := CheckWebConfig(o.WebConfigFile); err != nil {
		_ = ln.Close()
		return err
	}
	log := p.log.Named("http")
	srv := &http.Server{
		Handler:           p.handler(o),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errorLog(log),
	}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	file := o.WebConfigFile
	// The toolkit logs through slog: its lines join ours.
	err := web.Serve(ln, srv, &web.FlagConfig{WebConfigFile: &file}, slog.New(zapslog.NewHandler(log.Core())))
	if errors.Is(err, http.ErrServerClosed) && ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("metrics listener %s: %w", ln.Addr(), err)
	}
	return nil
}

// errorLog is the http.Server's log at debug level: what it reports are
// failed TLS handshakes, a scraper's problem (no CA, no certificate).
func errorLog(log *zap.Logger) *stdlog.Logger {
	l, err := zap.NewStdLogAt(log, zapcore.DebugLevel)
	if err != nil { // only for a level zap does not know
		return zap.NewStdLog(log)
	}
	return l
}
