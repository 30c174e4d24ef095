package secrets

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rampart-ci/rampart"
)

// The barrier: every secret value goes into the store through seal and comes out through open,
// and the store is treated as untrusted. A value is encrypted with AES-256-GCM under a data key
// of its own (fresh random 32 bytes per version, random 96-bit nonce); the data key is wrapped by
// the KeyProvider. Both use the same AAD, the binding below, so that a ciphertext or wrapped key
// moved to another row, another secret or another version does not open.

// ErrTampered is wrapped by the errors of open when a sealed value does not authenticate: its
// ciphertext, nonce, wrapped key or binding (scope, project, environment, name, version) was
// changed or moved outside Rampart.
var ErrTampered = errors.New("secrets: sealed value does not authenticate: changed or moved outside Rampart")

// binding is where a sealed value belongs. Its AAD is the canonical encoding of it.
type binding struct {
	scope     string
	projectID int64
	env       string
	name      string
	version   int
}

func bindingOf(s *rampart.Secret, version int) binding {
	return binding{scope: s.Scope, projectID: s.ProjectID, env: s.Environment, name: s.Name, version: version}
}

// aadLabel separates secret AADs from any other use of the same keys.
const aadLabel = "rampart/secret/v1"

// aad encodes b unambiguously: a label, then each string as a 4-byte big-endian length and its
// bytes, and the project id and version as 8-byte big-endian integers, in a fixed order.
func (b binding) aad() []byte {
	buf := make([]byte, 0, 64+len(b.scope)+len(b.env)+len(b.name))
	buf = appendString(buf, aadLabel)
	buf = appendString(buf, b.scope)
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.projectID))
	buf = appendString(buf, b.env)
	buf = appendString(buf, b.name)
	buf = binary.BigEndian.AppendUint64(buf, uint64(b.version))
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
	return append(buf, s...)
}

// String names the sealed value for error messages: never anything sealed.
func (b binding) String() string {
	return fmt.Sprintf("%s secret %s (project %d, environment %q) version %d", b.scope, b.name, b.projectID, b.env, b.version)
}

// seal encrypts plaintext for b under a new data key wrapped by the vault's active key. The
// result has its Version set; the caller sets SecretID, CreatedAt and CreatedBy.
func (v *Vault) seal(ctx context.Context, b binding, plaintext []byte) (*rampart.SealedValue, error) {
	return sealWith(ctx, v.keys(), b, plaintext)
}

func sealWith(ctx context.Context, kp KeyProvider, b binding, plaintext []byte) (*rampart.SealedValue, error) {
	dk := make([]byte, KeySize)
	defer clear(dk)
	if _, err := rand.Read(dk); err != nil {
		return nil, fmt.Errorf("seal %s: generate data key: %w", b, err)
	}
	aead, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s: generate nonce: %w", b, err)
	}
	aad := b.aad()
	ct := aead.Seal(nil, nonce, plaintext, aad)
	keyID, wrapped, err := kp.Wrap(ctx, dk, aad)
	if err != nil {
		return nil, fmt.Errorf("seal %s: wrap data key: %w", b, err)
	}
	return &rampart.SealedValue{Version: b.version, KeyID: keyID, WrappedKey: wrapped, Nonce: nonce, Ciphertext: ct}, nil
}

// open decrypts sv, which must belong to b. The caller zeroes the result after use. Errors
// name the secret and version, never a value; one that does not authenticate wraps ErrTampered.
func (v *Vault) open(ctx context.Context, b binding, sv *rampart.SealedValue) ([]byte, error) {
	if sv.Version != b.version {
		return nil, fmt.Errorf("open %s: the store returned version %d: %w", b, sv.Version, ErrTampered)
	}
	aad := b.aad()
	dk, err := v.keys().Unwrap(ctx, sv.KeyID, sv.WrappedKey, aad)
	defer clear(dk)
	switch {
	case errors.Is(err, ErrDecrypt):
		return nil, fmt.Errorf("open %s: data key: %w (%w)", b, ErrTampered, err)
	case err != nil:
		return nil, fmt.Errorf("open %s: data key: %w", b, err)
	case len(dk) != KeySize:
		return nil, fmt.Errorf("open %s: data key of %d bytes: %w", b, len(dk), ErrTampered)
	}
	aead, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	// GCM panics on a nonce of the wrong size, and the store is not trusted.
	if len(sv.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("open %s: nonce of %d bytes: %w", b, len(sv.Nonce), ErrTampered)
	}
	pt, err := aead.Open(nil, sv.Nonce, sv.Ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", b, ErrTampered)
	}
	return pt, nil
}
