package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns their paths and a pool
// that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServerServesHTTPS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	dir := t.TempDir()
	if code, _, errOut := cli(t, "", "vault", "keygen", filepath.Join(dir, "master.key")); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"server", "--addr", "127.0.0.1:0", "--data-dir", dir, "--tls-cert", certFile, "--tls-key", keyFile, "--master-key-file", filepath.Join(dir, "master.key")},
			strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (https://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-urlc:
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Fatalf("healthz over TLS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP to the TLS port gets nothing useful.
	if resp, err := http.Get(strings.Replace(url, "https://", "http://", 1) + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered 200 on the TLS port")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("server exited with %d", code)
	}
}

func TestTLSFlagsGoTogether(t *testing.T) {
	code, _, errOut := cli(t, "", "server", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--tls-cert", "x.crt")
	if code == 0 || !strings.Contains(errOut, "--tls-cert and --tls-key go together") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// TestBadMasterKeyChangesNothing: a first start that fails on the vault key must not create the
// first admin, whose password would then never be shown again.
func TestBadMasterKeyChangesNothing(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "master.key")
	if code, _, errOut := cli(t, "", "vault", "keygen", key); code != 0 {
		t.Fatalf("keygen: %s", errOut)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	code, out, errOut := cli(t, "", "server", "--addr", "127.0.0.1:0", "--data-dir", data, "--master-key-file", key)
	if code == 0 || !strings.Contains(errOut, "chmod 600") || strings.Contains(out, "admin password") {
		t.Fatalf("start with a world-readable key: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	code, _, errOut = cli(t, "", "server", "--addr", "127.0.0.1:0", "--data-dir", data)
	if code == 0 || !strings.Contains(errOut, "no master key") {
		t.Fatalf("start without a key: exit %d, %q", code, errOut)
	}
}
