package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/rampart-ci/rampart"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. The zero value is not usable; use DefaultParams.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultParams follow OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane), which costs
// about 20 ms per check on one core: cheap for a sign-in, expensive for a guesser.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Password length bounds. The upper one keeps hashing bounded for hostile input.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
)

// CheckPasswordPolicy returns an EINVALID error when pw is not acceptable as a new password.
func CheckPasswordPolicy(pw string) error {
	switch {
	case len(pw) < MinPasswordLength:
		return rampart.Errorf(rampart.EINVALID, "password too short: %d characters", len(pw)).
			WithDetail("use at least %d characters; a passphrase of several words is easy to type and hard to guess", MinPasswordLength)
	case len(pw) > MaxPasswordLength:
		return rampart.Errorf(rampart.EINVALID, "password too long: %d characters", len(pw)).
			WithDetail("use at most %d characters", MaxPasswordLength)
	}
	return nil
}

// HashPassword returns pw hashed with argon2id in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash), which records its parameters so they can be raised later.
func HashPassword(pw string, p Params) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches encoded, comparing in constant time. A malformed
// hash is an error, never a match.
func VerifyPassword(encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("verify password: unsupported hash format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("verify password: unsupported argon2 version %q", parts[2])
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return false, fmt.Errorf("verify password: bad parameters %q: %w", parts[3], err)
	}
	// Refuse absurd costs: a hash row edited in the database must not become a denial of service.
	if p.Memory == 0 || p.Memory > 1<<20 || p.Time == 0 || p.Time > 20 || p.Threads == 0 {
		return false, fmt.Errorf("verify password: parameters out of range %q", parts[3])
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("verify password: bad salt: %w", err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, fmt.Errorf("verify password: bad hash")
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
