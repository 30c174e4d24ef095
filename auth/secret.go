package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// Prefixes make leaked credentials recognisable to secret scanners and to people.
const (
	TokenPrefix   = "rmp_" // API tokens
	SessionPrefix = "rms_" // browser session ids
)

// NewSecret returns prefix followed by 256 random bits, base64url-encoded.
func NewSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret returns the hex SHA-256 of a high-entropy secret. A fast hash is right here: with
// 256 random bits there is nothing to guess, and lookups by hash happen on every request.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// NewPassword returns a random password for generated accounts: 24 characters from base64url,
// 144 bits.
func NewPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
