package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/internal/embedkafka"
	"github.com/flowsieve/flowsieve/internal/kafkaauth"
)

const (
	saslUser     = "flowsieve"
	saslPassword = "correct horse battery staple"
)

// testPKI is a CA and a broker certificate for 127.0.0.1, made for one
// test.
type testPKI struct {
	caFile, certFile, keyFile string
	server                    tls.Certificate
}

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	ca := newTestCA(t, dir, "flowsieve test CA")
	broker := ca.issue(t, dir, "broker", x509.ExtKeyUsageServerAuth)
	return testPKI{caFile: ca.file, certFile: broker.certFile, keyFile: broker.keyFile, server: broker.cert}
}

// testCA is a certificate authority made for one test; file is its
// certificate in PEM.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
}

func newTestCA(t *testing.T, dir, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(t), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".pem")
	writePEM(t, file, "CERTIFICATE", der)
	return testCA{cert: cert, key: key, file: file}
}

// issued is a certificate a testCA signed, with its key, in PEM files.
type issued struct {
	certFile, keyFile string
	cert              tls.Certificate
}

// issue signs a certificate for 127.0.0.1 and localhost, for use as
// usage (server or client authentication), written to dir/name.pem and
// dir/name-key.pem.
func (ca testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(t), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := issued{certFile: filepath.Join(dir, name+".pem"), keyFile: filepath.Join(dir, name+"-key.pem")}
	writePEM(t, c.certFile, "CERTIFICATE", der)
	writePEM(t, c.keyFile, "EC PRIVATE KEY", keyDER)
	if c.cert, err = tls.LoadX509KeyPair(c.certFile, c.keyFile); err != nil {
		t.Fatal(err)
	}
	return c
}

func serialNumber(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// newSecureEnv is newEnv with a broker that takes only TLS connections
// authenticated with SASL SCRAM-SHA-256.
func newSecureEnv(t *testing.T, partitions int, pki testPKI) *env {
	t.Helper()
	b, err := embedkafka.Start(embedkafka.Config{
		Listen:     "127.0.0.1:0",
		Topics:     []string{rawTopic, keptTopic, threatsTopic, invalidTopic},
		Partitions: partitions,
		TLS:        &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12},
		Users:      []embedkafka.User{{Mechanism: "SCRAM-SHA-256", Name: saslUser, Password: saslPassword}},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := kafkaauth.ClientOpts(kafkaauth.Config{TLS: true, CA: pki.caFile,
		Mechanism: "SCRAM-SHA-256", Username: saslUser, Password: saslPassword})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	e := &env{t: t, broker: b, addr: b.Addr(), cl: cl, adm: kadm.NewClient(cl), parts: int32(partitions), clientOpts: opts}
	t.Cleanup(func() {
		cl.Close()
		b.Close()
	})
	return e
}

// secureConfig is writeConfig with a kafka.tls and kafka.sasl section
// (the password comes from the file or the environment).
func secureConfig(t *testing.T, dir, broker, group, rulesFile string, pki testPKI, passwordFile string) string {
	t.Helper()
	path := writeConfig(t, dir, broker, group, rulesFile)
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sec := "kafka:\n  tls:\n    enabled: true\n    ca_file: " + pki.caFile +
		"\n  sasl:\n    mechanism: SCRAM-SHA-256\n    username: " + saslUser + "\n"
	if passwordFile != "" {
		sec += "    password_file: " + passwordFile + "\n"
	}
	out := strings.Replace(string(body), "kafka:\n", sec, 1)
	out = strings.Replace(out, "connect_timeout: 10s", "connect_timeout: 5s", 1)
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLSAndSASL: against a broker requiring TLS and SCRAM, flowsieve run
// with the right CA and credentials processes everything; a wrong
// password, or a CA that did not sign the broker's certificate, stop it
// with a clear message and a non-zero exit, quickly.
func TestTLSAndSASL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	e := newSecureEnv(t, 2, pki)
	rulesFile := writeRules(t, dir, testRules)

	t.Run("right credentials", func(t *testing.T) {
		pwFile := filepath.Join(dir, "password")
		if err := os.WriteFile(pwFile, []byte(saslPassword+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cdir := t.TempDir()
		cfg := secureConfig(t, cdir, e.addr, "secure", rulesFile, pki, pwFile)
		ins := makeInputs("s", 1500, e.parts, map[int32]int{})
		e.produce(ins)
		c := startChild(t, "run", "--config", cfg)
		e.waitCommitted("secure", 60*time.Second)
		e.checkOutputs(ins, allAtLeastOnce)
		if strings.Contains(c.out.String(), saslPassword) {
			t.Error("the log shows the SASL password")
		}
	})

	otherCA := newTestPKI(t, t.TempDir())
	for _, tc := range []struct {
		name string
		ca   string
		env  []string
		want string
	}{
		{name: "wrong password", ca: pki.caFile, env: []string{"FLOWSIEVE_KAFKA_SASL_PASSWORD=wrong"}, want: "SASL"},
		{name: "unknown CA", ca: otherCA.caFile, env: []string{"FLOWSIEVE_KAFKA_SASL_PASSWORD=" + saslPassword}, want: "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cdir := t.TempDir()
			p := pki
			p.caFile = tc.ca
			cfg := secureConfig(t, cdir, e.addr, "refused", rulesFile, p, "")
			const limit = 20 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, "run", "--config", cfg)
			cmd.Env = append(os.Environ(), tc.env...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("still running after %s; output:\n%s", limit, out)
			}
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want a failure; output:\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("cannot reach Kafka brokers")) || !bytes.Contains(out, []byte(tc.want)) {
				t.Errorf("output lacks a clear reason (%q):\n%s", tc.want, out)
			}
			if bytes.Contains(out, []byte(saslPassword)) {
				t.Errorf("output shows the password:\n%s", out)
			}
			t.Logf("refused in %s", time.Since(start).Round(time.Millisecond))
		})
	}

	t.Run("config print masks the password", func(t *testing.T) {
		cmd := exec.Command(binary, "config", "print", "--config", secureConfig(t, t.TempDir(), e.addr, "x", rulesFile, pki, ""))
		cmd.Env = append(os.Environ(), "FLOWSIEVE_KAFKA_SASL_PASSWORD="+saslPassword)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if bytes.Contains(out, []byte(saslPassword)) || !bytes.Contains(out, []byte("********")) {
			t.Errorf("config print:\n%s", out)
		}
	})
}

// TestEmbeddedBrokerSecured: `flowsieve run` without brokers starts its
// embedded broker serving TLS with SASL from the config (for local trials
// of a secured setup); the demo generator, the pipeline and an outside
// client all get in with the configured credentials.
func TestEmbeddedBrokerSecured(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(saslPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cfg := filepath.Join(dir, "flowsieve.yaml")
	body := "kafka:\n  connect_timeout: 10s\n  tls:\n    enabled: true\n    ca_file: " + pki.caFile +
		"\n  sasl:\n    mechanism: SCRAM-SHA-512\n    username: " + saslUser + "\n    password_file: " + pwFile +
		"\nembedded:\n  listen: " + addr + "\n  data_dir: " + filepath.Join(dir, "data") + "\n  partitions: 2\n  tls_cert_file: " + pki.certFile +
		"\n  tls_key_file: " + pki.keyFile + "\nrules:\n  file: " + writeRules(t, dir, testRules) +
		"\nmetrics:\n  listen: \"\"\nlog:\n  format: json\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	startChild(t, "run", "--config", cfg, "--demo", "--demo-rate", "500")

	opts, err := kafkaauth.ClientOpts(kafkaauth.Config{TLS: true, CA: pki.caFile,
		Mechanism: "SCRAM-SHA-512", Username: saslUser, PasswordFile: pwFile})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(keptTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	n := 0
	for n < 100 {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d kept records from the secured embedded broker within 45s, want 100 (fetch errors %v)", n, f.Errors())
		}
		n += f.NumRecords()
	}
	t.Logf("%d kept records read over TLS + SCRAM-SHA-512", n)
}
