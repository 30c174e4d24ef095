package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// KeyProvider wraps and unwraps data keys with key-encryption keys (KEKs) that it holds and
// never hands out, so that an external KMS (Vault Transit, AWS KMS, …) fits the same interface
// as the local keyring: it wraps and unwraps remotely. Implementations must be safe for
// concurrent use.
type KeyProvider interface {
	// KeyID names the active KEK, the one Wrap uses. Ids are not secret: they are stored next to
	// every wrapped data key and shown to administrators.
	KeyID() string
	// Wrap encrypts dataKey under the active KEK, authenticating aad with it, and returns the id
	// of the KEK it used (which a KMS may pick) with the wrapped key.
	Wrap(ctx context.Context, dataKey, aad []byte) (keyID string, wrapped []byte, err error)
	// Unwrap decrypts a data key wrapped by Wrap under the KEK keyID with the same aad. An error
	// wrapping ErrUnknownKey means the provider does not hold keyID; one wrapping ErrDecrypt,
	// that wrapped or aad was changed or the key is not the one that wrapped it. Any other error
	// is operational (a KMS that cannot be reached). The caller zeroes the result after use.
	Unwrap(ctx context.Context, keyID string, wrapped, aad []byte) ([]byte, error)
}

// Errors a KeyProvider returns, wrapped, so that the vault tells a wrong key from an outage.
var (
	ErrUnknownKey = errors.New("secrets: key-encryption key not in the keyring")
	ErrDecrypt    = errors.New("secrets: message authentication failed: wrong key, or the data or its binding was changed")
)

// KeySize is the size of key-encryption and data keys: AES-256.
const KeySize = 32

// LocalKeyring is a KeyProvider holding KEKs in memory: one active key, which wraps, and older
// keys by id, which only unwrap, so that data wrapped before a rotation stays readable while it
// is re-wrapped. A key's id is the first 16 hex digits of SHA-256("rampart kek v1\x00" || key):
// derived, so that a key file cannot pair a key with the wrong id, and domain-separated, so that
// the id is not a hash of the key usable elsewhere.
//
// Wrapping is AES-256-GCM with a random 96-bit nonce prepended to the result and the caller's
// AAD authenticated. Keys are never logged: String, GoString, LogValue and MarshalJSON show ids
// only. A LocalKeyring is safe for concurrent use; after Destroy it refuses every operation.
type LocalKeyring struct {
	mu     sync.RWMutex
	active string
	order  []string // active first, then older keys in the order given
	keys   map[string]*[KeySize]byte
}

// KeyID derives the id of a key as LocalKeyring names it.
func KeyID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("rampart kek v1\x00"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// NewLocalKeyring returns a keyring whose active key is active and which can also unwrap with
// each of older. Every key must be KeySize bytes; duplicates are ignored. The keyring copies the
// keys: the caller may and should zero its own copies.
func NewLocalKeyring(active []byte, older ...[]byte) (*LocalKeyring, error) {
	k := &LocalKeyring{keys: map[string]*[KeySize]byte{}}
	for i, key := range append([][]byte{active}, older...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("secrets: key %d is %d bytes, want %d (AES-256)", i+1, len(key), KeySize)
		}
		id := KeyID(key)
		if i == 0 {
			k.active = id
		}
		if _, dup := k.keys[id]; dup {
			continue
		}
		var b [KeySize]byte
		copy(b[:], key)
		k.keys[id] = &b
		k.order = append(k.order, id)
	}
	return k, nil
}

// KeyID implements KeyProvider.
func (k *LocalKeyring) KeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active
}

// KeyIDs returns the ids of every key held, the active one first.
func (k *LocalKeyring) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Clone(k.order)
}

// Wrap implements KeyProvider with the active key.
func (k *LocalKeyring) Wrap(_ context.Context, dataKey, aad []byte) (string, []byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key := k.keys[k.active]
	if key == nil {
		return "", nil, fmt.Errorf("wrap data key: keyring destroyed: %w", ErrUnknownKey)
	}
	aead, err := newGCM(key[:])
	if err != nil {
		return "", nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(dataKey)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("wrap data key: %w", err)
	}
	return k.active, aead.Seal(nonce, nonce, dataKey, aad), nil
}

// Unwrap implements KeyProvider with the key named keyID, active or older.
func (k *LocalKeyring) Unwrap(_ context.Context, keyID string, wrapped, aad []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key := k.keys[keyID]
	if key == nil {
		return nil, fmt.Errorf("unwrap with key %q: %w", keyID, ErrUnknownKey)
	}
	aead, err := newGCM(key[:])
	if err != nil {
		return nil, err
	}
	if len(wrapped) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("unwrap with key %q: wrapped key too short: %w", keyID, ErrDecrypt)
	}
	n := aead.NonceSize()
	dk, err := aead.Open(nil, wrapped[:n], wrapped[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("unwrap with key %q: %w", keyID, ErrDecrypt)
	}
	return dk, nil
}

// Destroy zeroes every key and empties the keyring. The Go runtime may still hold copies
// (the AES key schedule of a cipher in use, garbage not yet reused), so this narrows the window
// in which memory holds keys rather than closing it.
func (k *LocalKeyring) Destroy() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, key := range k.keys {
		clear(key[:])
		delete(k.keys, id)
	}
	k.order = nil
}

// String describes the keyring by its key ids only.
func (k *LocalKeyring) String() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return fmt.Sprintf("LocalKeyring(active=%s, keys=%d, material=REDACTED)", k.active, len(k.order))
}

// GoString keeps %#v from printing the key bytes.
func (k *LocalKeyring) GoString() string { return k.String() }

// LogValue implements slog.LogValuer: ids only, never key material.
func (k *LocalKeyring) LogValue() slog.Value {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slog.GroupValue(slog.String("active", k.active), slog.Int("keys", len(k.order)), slog.String("material", "REDACTED"))
}

// MarshalJSON keeps a keyring encoded by mistake from carrying its keys.
func (k *LocalKeyring) MarshalJSON() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return fmt.Appendf(nil, `{"active":%q,"keys":%d,"material":"REDACTED"}`, k.active, len(k.order)), nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return aead, nil
}

var _ KeyProvider = (*LocalKeyring)(nil)
