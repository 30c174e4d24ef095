package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// encodings returns the forms in which key material or a value could leak.
func encodings(b []byte) []string {
	return []string{
		string(b),
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
	}
}

func assertNoLeak(t *testing.T, what, text string, secrets ...[]byte) {
	t.Helper()
	for _, s := range secrets {
		for _, e := range encodings(s) {
			if strings.Contains(text, e) {
				t.Fatalf("%s contains secret material (%d bytes encoded as %q…): %q", what, len(s), e[:min(6, len(e))], text)
			}
		}
		// A Go byte slice printed with %v: [1 2 3].
		if strings.Contains(text, strings.Trim(fmt.Sprint(s), "[]")) {
			t.Fatalf("%s contains secret bytes printed as numbers", what)
		}
	}
}

func TestLocalKeyringWrapUnwrap(t *testing.T) {
	ctx := context.Background()
	old, cur := newKey(t), newKey(t)
	oldRing, _ := NewLocalKeyring(old)
	ring, err := NewLocalKeyring(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	if ring.KeyID() != KeyID(cur) || len(ring.KeyIDs()) != 2 || ring.KeyIDs()[1] != KeyID(old) {
		t.Fatalf("ids %s %v", ring.KeyID(), ring.KeyIDs())
	}
	dk, aad := newKey(t), []byte("binding")

	id, wrapped, err := ring.Wrap(ctx, dk, aad)
	if err != nil || id != KeyID(cur) {
		t.Fatalf("wrap: %s %v", id, err)
	}
	if len(wrapped) != 12+KeySize+16 {
		t.Fatalf("wrapped is %d bytes, want nonce+key+tag", len(wrapped))
	}
	got, err := ring.Unwrap(ctx, id, wrapped, aad)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("unwrap: %v", err)
	}
	// Wrapped under the old key, opened by the new keyring that holds it as an older key.
	oldID, oldWrapped, _ := oldRing.Wrap(ctx, dk, aad)
	if got, err := ring.Unwrap(ctx, oldID, oldWrapped, aad); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("unwrap with older key: %v", err)
	}
	_, again, _ := ring.Wrap(ctx, dk, aad)
	if bytes.Equal(again, wrapped) {
		t.Fatal("two wraps of the same key are equal: nonce not random")
	}

	flipped := bytes.Clone(wrapped)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name    string
		id      string
		wrapped []byte
		aad     []byte
		want    error
	}{
		{"other aad", id, wrapped, []byte("bindinh"), ErrDecrypt},
		{"no aad", id, wrapped, nil, ErrDecrypt},
		{"flipped bit", id, flipped, aad, ErrDecrypt},
		{"truncated", id, wrapped[:20], aad, ErrDecrypt},
		{"empty", id, nil, aad, ErrDecrypt},
		{"other key's id", oldID, wrapped, aad, ErrDecrypt},
		{"unknown id", "0123456789abcdef", wrapped, aad, ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ring.Unwrap(ctx, tc.id, tc.wrapped, tc.aad)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}

	ring.Destroy()
	if _, _, err := ring.Wrap(ctx, dk, aad); err == nil {
		t.Fatal("destroyed keyring wraps")
	}
	if _, err := ring.Unwrap(ctx, id, wrapped, aad); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("destroyed keyring unwraps: %v", err)
	}
}

func TestNewLocalKeyringRefusesShortKeys(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewLocalKeyring(make([]byte, n)); err == nil {
			t.Errorf("%d-byte key accepted", n)
		}
	}
	if _, err := NewLocalKeyring(newKey(t), make([]byte, 16)); err == nil {
		t.Error("16-byte older key accepted")
	}
}

// TestKeyringRedacts prints a keyring every way a careless log line or response could.
func TestKeyringRedacts(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	ring, _ := NewLocalKeyring(k1, k2)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("keyring", "kr", ring)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("keyring", "kr", ring)
	js, err := json.Marshal(map[string]any{"kr": ring})
	if err != nil {
		t.Fatal(err)
	}
	type holder struct{ KR *LocalKeyring }
	out := strings.Join([]string{
		logs.String(), string(js),
		fmt.Sprint(ring), fmt.Sprintf("%v %+v %#v %s %x %q", ring, ring, ring, ring, ring, ring),
		fmt.Sprintf("%v %+v %#v", holder{ring}, &holder{ring}, holder{ring}),
	}, "\n")
	assertNoLeak(t, "printed keyring", out, k1, k2)
	if !strings.Contains(out, KeyID(k1)) || !strings.Contains(out, "REDACTED") {
		t.Fatalf("printed keyring should name its active key id and say it is redacted: %s", out)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "master.key")
	ring, err := GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	if d, _ := os.Stat(filepath.Dir(path)); d.Mode().Perm() != 0o700 {
		t.Fatalf("key directory mode %04o, want 0700", d.Mode().Perm())
	}
	loaded, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.KeyID() != ring.KeyID() {
		t.Fatalf("loaded %s, generated %s", loaded.KeyID(), ring.KeyID())
	}
	before, _ := os.ReadFile(path)

	t.Run("generate never overwrites", func(t *testing.T) {
		_, err := GenerateKeyFile(path)
		if rampart.ErrorCode(err) != rampart.ECONFLICT {
			t.Fatalf("err = %v, want conflict", err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Fatal("existing key file changed")
		}
		// Nor through a dangling symlink.
		link := filepath.Join(dir, "link.key")
		os.Symlink(filepath.Join(dir, "nowhere"), link)
		if _, err := GenerateKeyFile(link); rampart.ErrorCode(err) != rampart.ECONFLICT {
			t.Fatalf("dangling symlink: err = %v, want conflict", err)
		}
		if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
			t.Fatalf("temporary files left behind: %v", entries)
		}
	})

	t.Run("add key keeps old ones", func(t *testing.T) {
		p := filepath.Join(dir, "rot.key")
		first, _ := GenerateKeyFile(p)
		second, err := AddKeyToFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ids := second.KeyIDs()
		if len(ids) != 2 || ids[1] != first.KeyID() || ids[0] == first.KeyID() {
			t.Fatalf("ids after adding %v, first %s", ids, first.KeyID())
		}
		re, err := LoadKeyFile(p)
		if err != nil || fmt.Sprint(re.KeyIDs()) != fmt.Sprint(ids) {
			t.Fatalf("reloaded %v (%v), want %v", re.KeyIDs(), err, ids)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Fatalf("mode after adding %04o", st.Mode().Perm())
		}
	})

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		t.Run(fmt.Sprintf("mode %04o refused", mode), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			os.WriteFile(p, before, 0o600)
			os.Chmod(p, mode)
			_, err := LoadKeyFile(p)
			if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(rampart.ErrorDetail(err), "chmod 600 "+p) {
				t.Fatalf("err = %v, want EINVALID saying chmod 600", err)
			}
		})
	}
	t.Run("mode 0400 accepted", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "k")
		os.WriteFile(p, before, 0o400)
		if _, err := LoadKeyFile(p); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := LoadKeyFile(filepath.Join(dir, "none")); rampart.ErrorCode(err) != rampart.ENOTFOUND {
			t.Fatalf("err = %v", err)
		}
	})

	key := newKey(t)
	b64 := base64.StdEncoding.EncodeToString(key)
	other := newKey(t)
	for _, tc := range []struct {
		name, content string
		ok            bool
	}{
		{"one key", KeyID(key) + " " + b64 + "\n", true},
		{"comments, blanks, no padding, CRLF", "# hi\n\n  " + KeyID(key) + "\t" + strings.TrimRight(b64, "=") + "\r\n", true},
		{"two keys", KeyID(key) + " " + b64 + "\n" + KeyID(other) + " " + base64.StdEncoding.EncodeToString(other) + "\n", true},
		{"empty", "", false},
		{"comments only", "# nothing\n", false},
		{"key without id", b64 + "\n", false},
		{"wrong id", KeyID(other) + " " + b64 + "\n", false},
		{"short key", KeyID(key[:16]) + " " + base64.StdEncoding.EncodeToString(key[:16]) + "\n", false},
		{"not base64", KeyID(key) + " " + strings.Repeat("!", 44) + "\n", false},
		{"truncated", KeyID(key) + " " + b64[:30] + "\n", false},
		{"extra field", KeyID(key) + " " + b64 + " x\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			ring, err := LoadKeyFile(p)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				assertNoLeak(t, "key file error", err.Error(), key, other, key[:16])
				if rampart.ErrorCode(err) != rampart.EINVALID {
					t.Fatalf("code %s", rampart.ErrorCode(err))
				}
				return
			}
			if ring.KeyID() != KeyID(key) {
				t.Fatalf("active %s, want %s", ring.KeyID(), KeyID(key))
			}
		})
	}
}

func TestParseKeyEnv(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	b1, b2 := base64.StdEncoding.EncodeToString(k1), base64.StdEncoding.EncodeToString(k2)
	ring, err := ParseKeyEnv(" " + b1 + "\n")
	if err != nil || ring.KeyID() != KeyID(k1) {
		t.Fatalf("%v %v", ring, err)
	}
	ring, err = ParseKeyEnv(b2 + ", " + b1)
	if err != nil || ring.KeyID() != KeyID(k2) || len(ring.KeyIDs()) != 2 {
		t.Fatalf("%v %v", ring, err)
	}
	for _, bad := range []string{"", " , ", b1[:20], "not base64 at all!!", base64.StdEncoding.EncodeToString(k1[:31]), b1 + ",xyz"} {
		_, err := ParseKeyEnv(bad)
		if rampart.ErrorCode(err) != rampart.EINVALID {
			t.Fatalf("%q: err = %v", bad, err)
		}
		for _, part := range strings.Split(bad, ",") {
			if part = strings.TrimSpace(part); len(part) >= 8 && strings.Contains(err.Error(), part) {
				t.Fatalf("error quotes the value: %v", err)
			}
		}
	}
}
