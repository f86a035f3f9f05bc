package goldmanefake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ServerName is the name in the fake's server certificate, Goldmane's
// service name in calico-system.
const ServerName = "goldmane.calico-system.svc"

// Certs is a CA with a server and a client certificate, in PEM files.
type Certs struct {
	Dir                   string
	CA                    string // ca.crt
	ServerCert, ServerKey string // server.crt, server.key
	ClientCert, ClientKey string // client.crt, client.key
}

// CertsIn names the files in dir without creating them.
func CertsIn(dir string) Certs {
	j := func(n string) string { return filepath.Join(dir, n) }
	return Certs{Dir: dir, CA: j("ca.crt"), ServerCert: j("server.crt"), ServerKey: j("server.key"),
		ClientCert: j("client.crt"), ClientKey: j("client.key")}
}

// NewCerts writes a fresh CA (named cn), a server certificate for
// ServerName, localhost and 127.0.0.1, and a client certificate into dir.
func NewCerts(dir, cn string) (Certs, error) {
	c := CertsIn(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return c, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return c, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return c, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return c, err
	}
	if err := writePEM(c.CA, "CERTIFICATE", caDER, 0o644); err != nil {
		return c, err
	}
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage, certFile, keyFile string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.DNSNames = []string{ServerName, "goldmane", "localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(certFile, "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		return writePEM(keyFile, "EC PRIVATE KEY", kder, 0o600)
	}
	if err := leaf(2, ServerName, x509.ExtKeyUsageServerAuth, c.ServerCert, c.ServerKey); err != nil {
		return c, err
	}
	if err := leaf(3, "flowsieve-ingest", x509.ExtKeyUsageClientAuth, c.ClientCert, c.ClientKey); err != nil {
		return c, err
	}
	return c, nil
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// ServerTLS is the server side of c: its certificate, and client
// certificates required and verified against clientCA (c.CA if "").
func (c Certs) ServerTLS(clientCA string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.ServerCert, c.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("goldmanefake: server certificate: %w", err)
	}
	if clientCA == "" {
		clientCA = c.CA
	}
	pemCA, err := os.ReadFile(clientCA)
	if err != nil {
		return nil, fmt.Errorf("goldmanefake: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return nil, fmt.Errorf("goldmanefake: no certificate in %s", clientCA)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}
