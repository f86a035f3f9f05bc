package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/flowsieve/flowsieve/processor"
)

// serveMetrics serves pl's metrics listener with o on a local port until
// the test ends, and returns its address.
func serveMetrics(t *testing.T, pl *pipeline, o processor.HTTPOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- pl.p.Serve(ctx, ln, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// webConfig writes a web configuration: TLS with the server certificate,
// client certificates of ca required, and one basic-auth user.
func webConfig(t *testing.T, path string, server issued, ca testCA, user, password string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Paths relative to the file, as the toolkit reads them.
	rel := func(p string) string { return filepath.Base(p) }
	body := fmt.Sprintf(`tls_server_config:
  cert_file: %s
  key_file: %s
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: %s
basic_auth_users:
  %s: %s
`, rel(server.certFile), rel(server.keyFile), rel(ca.file), user, hash)
	writeFileAtomic(t, path, body)
}

// TestWebConfig: metrics.web_config_file secures every path of the
// metrics listener the way Prometheus' exporters do: only a client that
// trusts the server, shows a certificate of the configured CA and knows a
// password gets through; the others get the toolkit's answer (400 for
// plain HTTP, a TLS alert, 401). /healthz, /readyz and pprof are behind the
// same gate, and edits of the file apply to the next connection or request.
func TestWebConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	dir := t.TempDir()
	pl := e.startPipeline("webconfig", writeRules(t, dir, testRules))
	waitReady(t, pl, 30*time.Second)

	ca := newTestCA(t, dir, "metrics CA")
	stranger := newTestCA(t, t.TempDir(), "someone else's CA")
	server := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	client := ca.issue(t, dir, "prometheus", x509.ExtKeyUsageClientAuth)
	impostor := stranger.issue(t, t.TempDir(), "prometheus", x509.ExtKeyUsageClientAuth)
	webFile := filepath.Join(dir, "web.yml")
	webConfig(t, webFile, server, ca, "prometheus", "s3cret")
	addr := serveMetrics(t, pl, processor.HTTPOptions{WebConfigFile: webFile, Pprof: true})

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	// A new transport per request: no connection is reused, so each
	// request makes its own TLS handshake, as a new scrape may.
	//
	// The timeout is generous: for an unknown user the toolkit still checks
	// the password against a cost-10 bcrypt hash of its own (so that a
	// user's existence cannot be timed), which under the race detector on
	// a loaded machine took over 10 s.
	get := func(scheme, path string, tc *tls.Config, user, password string) (*http.Response, string, error) {
		c := &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
		req, err := http.NewRequest(http.MethodGet, scheme+"://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}
	good := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{client.cert}}
	for _, tc := range []struct {
		name           string
		scheme         string
		tls            *tls.Config
		user, password string
		status         int    // the answer, or
		tlsErr         string // the handshake's failure
	}{
		{name: "right CA, certificate and password", scheme: "https", tls: good, user: "prometheus", password: "s3cret", status: 200},
		{name: "plain HTTP", scheme: "http", user: "prometheus", password: "s3cret", status: 400},
		{name: "no password", scheme: "https", tls: good, status: 401},
		{name: "wrong password", scheme: "https", tls: good, user: "prometheus", password: "guess", status: 401},
		{name: "unknown user", scheme: "https", tls: good, user: "admin", password: "s3cret", status: 401},
		{name: "no client certificate", scheme: "https", tls: &tls.Config{RootCAs: roots}, user: "prometheus", password: "s3cret",
			tlsErr: "certificate required"},
		// Sent although the server names the CAs it takes: a client
		// given only Certificates would send none.
		{name: "client certificate of another CA", scheme: "https", tls: &tls.Config{RootCAs: roots,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &impostor.cert, nil }},
			user: "prometheus", password: "s3cret", tlsErr: "unknown certificate authority"},
		{name: "server not trusted", scheme: "https", tls: &tls.Config{Certificates: []tls.Certificate{client.cert}},
			user: "prometheus", password: "s3cret", tlsErr: "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/metrics", "/healthz", "/readyz", "/debug/pprof/"} {
				resp, body, err := get(tc.scheme, path, tc.tls, tc.user, tc.password)
				switch {
				case tc.tlsErr != "":
					if err == nil || !strings.Contains(err.Error(), tc.tlsErr) {
						t.Errorf("%s: error %v, want one saying %q", path, err, tc.tlsErr)
					}
				case err != nil:
					t.Errorf("%s: %v", path, err)
				case resp.StatusCode != tc.status:
					t.Errorf("%s: %s, want %d (%s)", path, resp.Status, tc.status, strings.TrimSpace(body))
				case tc.status == 401 && resp.Header.Get("WWW-Authenticate") != "Basic":
					t.Errorf("%s: 401 without WWW-Authenticate: Basic", path)
				case tc.status == 200 && path == "/metrics" && !strings.Contains(body, "flowsieve_assigned_partitions 1"):
					t.Errorf("/metrics lacks flowsieve_assigned_partitions 1:\n%s", body)
				}
			}
		})
	}

	// The file is read again per request and per handshake: a new
	// password and a renewed server certificate apply without a restart.
	before, _, err := get("https", "/healthz", good, "prometheus", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	renewed := ca.issue(t, dir, "server-renewed", x509.ExtKeyUsageServerAuth)
	webConfig(t, webFile, renewed, ca, "prometheus", "rotated")
	if resp, _, err := get("https", "/healthz", good, "prometheus", "s3cret"); err != nil || resp.StatusCode != 401 {
		t.Errorf("old password after the edit: %v %v, want 401", resp.Status, err)
	}
	resp, _, err := get("https", "/healthz", good, "prometheus", "rotated")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("new password after the edit: %v %v, want 200", resp, err)
	}
	was, now := before.TLS.PeerCertificates[0].SerialNumber, resp.TLS.PeerCertificates[0].SerialNumber
	if was.Cmp(now) == 0 || now.Cmp(renewed.cert.Leaf.SerialNumber) != 0 {
		t.Errorf("server certificate serial %v after the edit (was %v), want the renewed one's %v", now, was, renewed.cert.Leaf.SerialNumber)
	}
}

// TestMetricsListenerPlain: without a web config the listener is plain
// HTTP, and pprof is off unless asked for.
func TestMetricsListenerPlain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	dir := t.TempDir()
	pl := e.startPipeline("plain", writeRules(t, dir, testRules))
	for _, tc := range []struct {
		pprof bool
		want  int
	}{{false, 404}, {true, 200}} {
		addr := serveMetrics(t, pl, processor.HTTPOptions{Pprof: tc.pprof})
		for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/debug/pprof/": tc.want} {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("pprof %v: %s: %s, want %d", tc.pprof, path, resp.Status, want)
			}
		}
	}
}

// TestBadWebConfig: a web config that cannot serve stops start-up with an
// error naming the file, before anything connects.
func TestBadWebConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rulesFile := writeRules(t, dir, testRules)
	files := map[string]string{
		"plain-password.yml": "basic_auth_users:\n  prometheus: s3cret\n",
		"missing-cert.yml":   "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope-key.pem\n",
		"unknown-key.yml":    "tls_server_config:\n  certfile: server.pem\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		file string
		want string
	}{
		{"absent.yml", "no such file"},
		{"plain-password.yml", "bcrypt"},
		{"missing-cert.yml", "nope.pem"},
		{"unknown-key.yml", "certfile"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := startBinary(t, binary, "run", "--rules.file", rulesFile, "--kafka.brokers=127.0.0.1:1",
				"--metrics.listen=127.0.0.1:0", "--metrics.web_config_file="+path)
			select {
			case <-c.done:
			case <-ctx.Done():
				t.Fatalf("still running after 20s:\n%s", c.out.String())
			}
			out := c.out.String()
			if c.err == nil {
				t.Fatalf("exit 0, want a failure:\n%s", out)
			}
			for _, w := range []string{"metrics.web_config_file " + path, tc.want} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
