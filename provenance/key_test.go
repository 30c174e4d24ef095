package provenance

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-ci/rampart"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys") // neither exists yet
	path := filepath.Join(dir, "provenance.pem")

	k, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	dst, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := dst.Mode().Perm(); perm != 0o700 {
		t.Errorf("key directory mode %04o, want 0700", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want the key file only (no temporary files left)", len(entries))
	}

	again, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Public().Equal(k.Public()) || again.ID() != k.ID() {
		t.Fatalf("reloaded key %s, want %s: the key was replaced", again.ID(), k.ID())
	}

	// What the first key signed, the reloaded key's published public key verifies.
	pub, err := ParsePublicKey(again.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(signedEnvelope(t, k), pub); err != nil {
		t.Fatal(err)
	}
	if len(k.ID()) != 32 {
		t.Errorf("key id %q, want 32 hex digits", k.ID())
	}
}

func TestLoadOrCreateKeyConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "provenance.pem")
	const n = 16
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path)
			errs[i] = err
			if err == nil {
				ids[i] = k.ID()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("starts raced to different keys: %s and %s", ids[0], ids[i])
		}
	}
	final, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if final.ID() != ids[0] {
		t.Fatalf("key on disk %s, but the starts use %s", final.ID(), ids[0])
	}
}

func TestKeyFileModeRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o610} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "provenance.pem")
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err = LoadOrCreateKey(path)
			if rampart.ErrorCode(err) != rampart.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			if d := rampart.ErrorDetail(err); !strings.Contains(d, "chmod 600 "+path) {
				t.Errorf("detail %q does not say to chmod 600 the file", d)
			}
			// Refusing must not replace the key either.
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			again, err := LoadOrCreateKey(path)
			if err != nil || again.ID() != k.ID() {
				t.Fatalf("after chmod 600: key %v, err %v; want the original key %s", again, err, k.ID())
			}
		})
	}
	t.Run("0400 accepted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "provenance.pem")
		if _, err := LoadOrCreateKey(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKey(path); err != nil {
			t.Fatal(err)
		}
	})
}

func TestKeyFileBadContent(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"empty":           nil,
		"not PEM":         []byte("hello"),
		"public key":      testKey(1).PublicKeyPEM(),
		"ECDSA key":       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"damaged DER":     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x03, 1, 2, 3}}),
		"far too large":   bytes.Repeat([]byte("A"), maxKeyFile+1),
		"truncated block": []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "provenance.pem")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateKey(path)
			if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want EINVALID naming the file", err)
			}
			// A bad key file is reported, never replaced: it may be the only copy of the key.
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("the key file was changed (err %v)", err)
			}
		})
	}
	t.Run("empty path", func(t *testing.T) {
		if _, err := LoadOrCreateKey(""); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		path := t.TempDir()
		if err := os.Chmod(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKey(path); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
	})
}

// TestKeyRedacted checks that no way of printing or logging a key shows its private half.
func TestKeyRedacted(t *testing.T) {
	k := testKey(7)
	seed := k.priv.Seed()
	secrets := []string{
		string(seed),
		hex.EncodeToString(seed),
		base64.StdEncoding.EncodeToString(seed),
		fmt.Sprint([]byte(k.priv)),
		fmt.Sprintf("%x", seed),
		fmt.Sprintf("%X", seed),
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "key", k, "value", *k)
	asJSON, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(k), fmt.Sprint(*k),
		fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v %s %x %q", *k, *k, *k, *k, *k, *k),
		fmt.Sprintf("%v", []*Key{k}), fmt.Sprintf("%+v", struct{ K Key }{*k}),
		logged.String(), string(asJSON),
	}
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %q shows the private key", out)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(k), k.ID()) {
		t.Errorf("%q does not name the key id", fmt.Sprint(k))
	}
}

func TestParsePublicKey(t *testing.T) {
	k := testKey(1)
	pub, err := ParsePublicKey(k.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(k.Public()) {
		t.Fatal("parsed key differs")
	}
	withText := append([]byte("# Rampart provenance key of rampart.example\n"), k.PublicKeyPEM()...)
	if _, err := ParsePublicKey(withText); err != nil {
		t.Errorf("text before the PEM block: %v", err)
	}

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		data []byte
		want string // in the message
	}{
		"empty":       {nil, "not PEM"},
		"not PEM":     {[]byte("ed25519 AAAA"), "not PEM"},
		"private key": {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), "private key"},
		"certificate": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "CERTIFICATE"},
		"ECDSA key":   {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPub}), "not an Ed25519 key"},
		"damaged":     {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0}}), "cannot be parsed"},
		"two keys":    {append(k.PublicKeyPEM(), testKey(2).PublicKeyPEM()...), "more than one"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePublicKey(tc.data)
			if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(rampart.ErrorMessage(err), tc.want) {
				t.Fatalf("err = %v, want EINVALID saying %q", err, tc.want)
			}
		})
	}
}
