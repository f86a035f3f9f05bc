package goldmane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc/credentials"
)

// TLSFiles are the PEM files of the mutual TLS with Goldmane.
type TLSFiles struct {
	CA, Cert, Key string
	// ServerName is checked against Goldmane's certificate; "" uses the
	// host of the address.
	ServerName string
}

// tlsConfig loads the files; errors name the file at fault.
func (f TLSFiles) tlsConfig() (*tls.Config, error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, errors.New("goldmane TLS: the CA, client certificate and key files are all required (Goldmane accepts mutual TLS only)")
	}
	pemCA, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("goldmane CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("goldmane CA file %s: no PEM certificate in it", f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("goldmane client certificate %s / key %s: %w", f.Cert, f.Key, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
		ServerName:   f.ServerName,
	}, nil
}

// CertError is a TLS failure no retry can mend: the files must change.
type CertError struct {
	msg string
	err error
}

func (e *CertError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *CertError) Unwrap() error { return e.err }

// certCreds are gRPC's TLS credentials that keep the last certificate
// failure with its type: gRPC hands back only its text, inside an
// Unavailable status, and retries such failures forever.
type certCreds struct {
	credentials.TransportCredentials
	files TLSFiles

	mu   sync.Mutex
	last *CertError
}

func newCertCreds(f TLSFiles) (*certCreds, error) {
	cfg, err := f.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &certCreds{TransportCredentials: credentials.NewTLS(cfg), files: f}, nil
}

func (c *certCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		c.note(err)
		return nil, nil, err
	}
	// With TLS 1.3 the server checks our certificate after our side of
	// the handshake is done: its verdict arrives as an alert on the first
	// read.
	return &alertConn{Conn: conn, c: c}, info, nil
}

func (c *certCreds) Clone() credentials.TransportCredentials {
	return &certCreds{TransportCredentials: c.TransportCredentials.Clone(), files: c.files}
}

// note keeps err when it is a certificate problem.
func (c *certCreds) note(err error) {
	if ce := classifyTLS(err, c.files); ce != nil {
		c.mu.Lock()
		c.last = ce
		c.mu.Unlock()
	}
}

// take returns and forgets the last certificate failure.
func (c *certCreds) take() *CertError {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.last
	c.last = nil
	return e
}

// classifyTLS names the certificate at fault, or returns nil for errors
// that are not about certificates (a refused connection, a reset).
func classifyTLS(err error, f TLSFiles) *CertError {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		op        *net.OpError
	)
	switch {
	case errors.As(err, &hostname):
		return &CertError{fmt.Sprintf("Goldmane's certificate is not valid for the name checked (set --server-name to a name in it; %s)", hostname.Host), err}
	case errors.As(err, &unknownCA):
		return &CertError{fmt.Sprintf("Goldmane's certificate is not signed by the CA in %s (wrong --ca file?)", f.CA), err}
	case errors.As(err, &invalid):
		return &CertError{"Goldmane's certificate is not valid (expired, or not for server use)", err}
	case errors.As(err, &verify):
		return &CertError{fmt.Sprintf("Goldmane's certificate does not verify against %s", f.CA), err}
	case errors.As(err, &op) && op.Op == "remote error":
		// An alert from Goldmane during or right after the handshake: it
		// rejected our certificate (bad_certificate, unknown_ca,
		// certificate_required, expired...).
		return &CertError{fmt.Sprintf("Goldmane rejected the client certificate %s (not signed by the CA Goldmane trusts, or expired)", f.Cert), err}
	}
	return nil
}

// alertConn notes certificate alerts the server sends after the handshake.
type alertConn struct {
	net.Conn
	c    *certCreds
	seen bool // a byte was read: later errors are not about the handshake
}

func (a *alertConn) Read(p []byte) (int, error) {
	n, err := a.Conn.Read(p)
	if err != nil && !a.seen {
		a.c.note(err)
	}
	if n > 0 {
		a.seen = true
	}
	return n, err
}
