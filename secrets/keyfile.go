package secrets

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-ci/rampart"
)

// The master key file holds the vault's key-encryption keys as text, one key a line:
//
//	# comments and blank lines are ignored
//	<key id> <standard base64 of 32 random bytes>
//
// The first key is active: it wraps new data keys. The lines after it are older keys, kept so
// that data wrapped under them stays readable until `rampart vault rotate` has re-wrapped it; a
// key may be removed once rotation has finished. The id must be KeyID of the key, which catches
// a truncated or mistyped key before the server starts with it. The file must not be readable or
// writable by group or others (mode 0600 or 0400).

// maxKeyFile bounds what LoadKeyFile reads: a few hundred keys.
const maxKeyFile = 64 << 10

const keyFileHeader = `# Rampart master key file: the vault's key-encryption keys. Keep it secret (mode 0600) and
# back it up apart from the database: without it no secret in the database can be decrypted.
# The first key is active; older keys stay until ` + "`rampart vault rotate`" + ` has re-wrapped their data.
# <key id> <base64 of 32 random bytes>
`

// LoadKeyFile reads a master key file (format above) into a keyring. A file that group or
// others may read or write is refused with an EINVALID error saying to chmod 600 it, as is a
// malformed one; error messages name the file and line, never a key.
func LoadKeyFile(path string) (*LocalKeyring, error) {
	keys, err := readKeyFile(path)
	defer zeroAll(keys)
	if err != nil {
		return nil, err
	}
	return NewLocalKeyring(keys[0], keys[1:]...)
}

func readKeyFile(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "master key file %s does not exist", path).
			WithDetail("give the key file the database was first started with (--master-key-file) or set RAMPART_MASTER_KEY; `rampart up` creates one on first start")
	} else if err != nil {
		return nil, fmt.Errorf("open master key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat master key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, rampart.Errorf(rampart.EINVALID, "master key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "master key file %s is accessible to group or others (mode %04o)", path, perm).
			WithDetail("the key decrypts every secret: run `chmod 600 %s` and make sure only the user running Rampart owns it", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, rampart.Errorf(rampart.EINVALID, "master key file %s is larger than %d bytes", path, maxKeyFile).
			WithDetail("check that the path names a Rampart key file")
	}
	var keys [][]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		fields := bytes.Fields(line)
		bad := func(why string) error {
			zeroAll(keys)
			return rampart.Errorf(rampart.EINVALID, "master key file %s, line %d: %s", path, i+1, why).
				WithDetail("each line is `<key id> <base64 of 32 bytes>`, the active key first")
		}
		if len(fields) != 2 {
			return nil, bad(fmt.Sprintf("%d fields, want 2", len(fields)))
		}
		key, err := decodeKey(fields[1])
		if err != nil {
			return nil, bad(err.Error())
		}
		keys = append(keys, key)
		if id := KeyID(key); id != string(fields[0]) {
			return nil, bad(fmt.Sprintf("the key's id is %s, not the id written before it: the key or its id was changed", id))
		}
	}
	if len(keys) == 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "master key file %s holds no key", path).
			WithDetail("restore it from your backup; a new key cannot decrypt secrets sealed under the old one")
	}
	return keys, nil
}

// decodeKey decodes standard base64 (padded or not) of exactly KeySize bytes. Its errors never
// quote the input.
func decodeKey(b64 []byte) ([]byte, error) {
	s := strings.TrimRight(string(b64), "=")
	key := make([]byte, base64.RawStdEncoding.DecodedLen(len(s)))
	n, err := base64.RawStdEncoding.Decode(key, []byte(s))
	if err != nil {
		clear(key)
		return nil, errors.New("the key is not standard base64")
	}
	if n != KeySize {
		clear(key)
		return nil, fmt.Errorf("the key is %d bytes, want %d", n, KeySize)
	}
	return key[:n], nil
}

// ParseKeyEnv parses the value of RAMPART_MASTER_KEY: the standard base64 of a 32-byte key,
// optionally followed by older keys, comma-separated, for a rotation in progress. Errors never
// quote the value.
func ParseKeyEnv(value string) (*LocalKeyring, error) {
	var keys [][]byte
	defer func() { zeroAll(keys) }()
	for i, part := range strings.Split(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, err := decodeKey([]byte(part))
		if err != nil {
			return nil, rampart.Errorf(rampart.EINVALID, "RAMPART_MASTER_KEY, key %d: %s", i+1, err).
				WithDetail("set it to the base64 of 32 random bytes, e.g. from `head -c 32 /dev/urandom | base64`, the active key first and older keys after commas")
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "RAMPART_MASTER_KEY is empty").
			WithDetail("set it to the base64 of 32 random bytes, or use --master-key-file")
	}
	return NewLocalKeyring(keys[0], keys[1:]...)
}

// GenerateKeyFile creates a master key file at path holding one new random key, with mode 0600
// (its directory 0700 if missing), and returns the keyring. It never overwrites: an existing
// path is an ECONFLICT error. The file appears complete or not at all: it is written under a
// temporary name, synced and hard-linked into place.
func GenerateKeyFile(path string) (*LocalKeyring, error) {
	key := make([]byte, KeySize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	data := formatKeyFile([][]byte{key})
	defer clear(data)
	if err := writeKeyFile(path, data, false); err != nil {
		return nil, err
	}
	return NewLocalKeyring(key)
}

// AddKeyToFile generates a new key and makes it the active one of the key file at path, keeping
// the keys already there after it, and returns the new keyring, ready for Vault.Rotate. The file
// is replaced atomically (written under a temporary name, synced, renamed).
func AddKeyToFile(path string) (*LocalKeyring, error) {
	old, err := readKeyFile(path)
	defer zeroAll(old)
	if err != nil {
		return nil, err
	}
	key := make([]byte, KeySize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	keys := append([][]byte{key}, old...)
	data := formatKeyFile(keys)
	defer clear(data)
	if err := writeKeyFile(path, data, true); err != nil {
		return nil, err
	}
	return NewLocalKeyring(key, old...)
}

func formatKeyFile(keys [][]byte) []byte {
	b := []byte(keyFileHeader)
	for _, k := range keys {
		b = append(b, KeyID(k)...)
		b = append(b, ' ')
		b = base64.StdEncoding.AppendEncode(b, k)
		b = append(b, '\n')
	}
	return b
}

// writeKeyFile writes data to path through a synced temporary file in the same directory, then
// renames it over path (replace) or hard-links it to path, which fails if path exists.
func writeKeyFile(path string, data []byte, replace bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create master key directory: %w", err)
	}
	if !replace {
		if _, err := os.Lstat(path); err == nil {
			return existsErr(path)
		}
	}
	tmp, err := os.CreateTemp(dir, ".rampart-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("create master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("create master key file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write master key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write master key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write master key file: %w", err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
		if errors.Is(err, fs.ErrExist) {
			return existsErr(path)
		}
	}
	if err != nil {
		return fmt.Errorf("install master key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		// Make the new name durable; not every file system can sync a directory.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func existsErr(path string) error {
	return rampart.Errorf(rampart.ECONFLICT, "master key file %s already exists", path).
		WithDetail("Rampart never overwrites a key file: the secrets sealed under it would be lost; use it with --master-key-file, or move it away first")
}

func zeroAll(keys [][]byte) {
	for _, k := range keys {
		clear(k)
	}
}
