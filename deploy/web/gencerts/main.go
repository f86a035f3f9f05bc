// Command gencerts makes the certificates of a secured metrics listener
// for a trial: a CA (ca.crt; its key is thrown away), the listener's
// certificate and key (tls.crt, tls.key) for the host names and addresses
// given, and a client certificate for Prometheus (client.crt, client.key),
// all valid for a year. It needs nothing but Go's standard library, so the
// compose stack runs it with `go run` in the golang image it builds with:
//
//	go run . -dir ../certs -hosts flowsieve,localhost,127.0.0.1
//
// For production use your own CA or cert-manager; the files have the names
// a kubernetes.io/tls Secret and cert-manager use.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the files to")
	hosts := flag.String("hosts", "localhost,127.0.0.1", "comma-separated DNS names and IP addresses of the listener")
	client := flag.String("client", "prometheus", "common name of the client certificate")
	// The listener (uid 65532) and Prometheus (nobody) read the keys in
	// the compose stack's shared volume.
	mode := flag.Uint("mode", 0o600, "permissions of the written files")
	flag.Parse()
	if err := run(*dir, strings.Split(*hosts, ","), *client, os.FileMode(*mode)); err != nil {
		fmt.Fprintln(os.Stderr, "gencerts:", err)
		os.Exit(1)
	}
}

func run(dir string, hosts []string, client string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "flowsieve metrics CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := write(filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER, mode); err != nil {
		return err
	}
	server := &x509.Certificate{Subject: pkix.Name{CommonName: hosts[0]}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else if h != "" {
			server.DNSNames = append(server.DNSNames, h)
		}
	}
	if len(server.IPAddresses)+len(server.DNSNames) == 0 {
		return errors.New("-hosts names no host")
	}
	if err := issue(dir, "tls", server, ca, caKey, mode); err != nil {
		return err
	}
	return issue(dir, "client", &x509.Certificate{Subject: pkix.Name{CommonName: client},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey, mode)
}

// issue signs tmpl with the CA and writes name.crt and name.key.
func issue(dir, name string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey, mode os.FileMode) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = ca.NotBefore, ca.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := write(filepath.Join(dir, name+".crt"), "CERTIFICATE", der, mode); err != nil {
		return err
	}
	return write(filepath.Join(dir, name+".key"), "PRIVATE KEY", keyDER, mode)
}

func write(path, typ string, der []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		return err
	}
	return os.Chmod(path, mode) // WriteFile leaves an existing file's mode
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}
