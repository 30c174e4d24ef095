package provenance

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	ita "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rampart-ci/rampart"
)

// The key file holds the server's provenance signing key as a PEM "PRIVATE KEY" block (PKCS #8,
// Ed25519), after a line of text saying what it is. It must not be accessible to group or
// others (mode 0600 or 0400). Whoever reads it can sign provenance that every deployment gate of
// this server accepts.

// maxKeyFile bounds what LoadOrCreateKey reads; an Ed25519 key file is about 200 bytes.
const maxKeyFile = 16 << 10

const keyFilePreamble = "Rampart provenance signing key (Ed25519). Keep it secret: mode 0600, readable by the server only.\n"

// Key is an Ed25519 key that signs provenance. Its methods may be called concurrently. It never
// prints or logs its private half: String, GoString and LogValue show only the id.
type Key struct {
	id   string
	priv ed25519.PrivateKey
}

// LoadOrCreateKey loads the provenance key from the file at path, or, when there is none,
// generates one and writes it there with mode 0600, creating the directory with mode 0700 if
// missing. A key file that group or others may access, or that holds anything but an Ed25519
// private key, is refused with an EINVALID error saying how to fix it. When several processes
// start at once, they all end up with the key of the first one to write it: the file appears
// complete or not at all, and is never overwritten.
func LoadOrCreateKey(path string) (*Key, error) {
	if path == "" {
		return nil, rampart.Errorf(rampart.EINVALID, "no provenance key file given").
			WithDetail("give the path of the key file; it is created on first start")
	}
	k, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, err = createKey(path)
	if errors.Is(err, fs.ErrExist) {
		return loadKey(path) // another process created it first: use theirs
	}
	return k, err
}

// GenerateKey returns a new random key that lives in memory only, e.g. for tests.
func GenerateKey() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("provenance: generate key: %w", err)
	}
	return newKey(priv), nil
}

func newKey(priv ed25519.PrivateKey) *Key {
	return &Key{id: KeyID(priv.Public().(ed25519.PublicKey)), priv: priv}
}

// KeyID returns the id of a public key: the hex of the first 16 bytes of the SHA-256 of its 32
// bytes. DSSE signatures carry it, so that a verifier knows which key to try.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// ID returns the key's id (see KeyID).
func (k *Key) ID() string { return k.id }

// Public returns the public half of the key.
func (k *Key) Public() ed25519.PublicKey { return k.priv.Public().(ed25519.PublicKey) }

// PublicKeyPEM returns the public key as a PEM "PUBLIC KEY" block (PKIX), the form ParsePublicKey
// reads and that users download to verify provenance.
func (k *Key) PublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		// Marshalling a well-formed Ed25519 public key cannot fail.
		panic("provenance: marshal public key: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// String implements fmt.Stringer without the private key. The redacting methods have value
// receivers so that printing a Key value, not only a *Key, stays redacted.
func (k Key) String() string { return "provenance key " + k.id }

// GoString implements fmt.GoStringer (%#v) without the private key.
func (k Key) GoString() string { return fmt.Sprintf("provenance.Key{id: %q}", k.id) }

// LogValue implements slog.LogValuer without the private key.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Sign returns stmt in a DSSE envelope, as JSON, signed by k. It signs only SLSA v1 provenance
// statements (predicate type PredicateType) that pass the in-toto checks, so that the key cannot
// be made to sign anything else.
func (k *Key) Sign(stmt *ita.Statement) ([]byte, error) {
	if stmt == nil {
		return nil, rampart.Errorf(rampart.EINVALID, "no statement to sign")
	}
	if err := stmt.Validate(); err != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "the statement is not a valid in-toto statement: %v", err).
			WithDetail("build it with provenance.Statement")
	}
	if stmt.GetType() != StatementType || stmt.GetPredicateType() != PredicateType {
		return nil, rampart.Errorf(rampart.EINVALID, "the statement is a %s of %s, not a %s of %s",
			stmt.GetType(), stmt.GetPredicateType(), StatementType, PredicateType).
			WithDetail("the provenance key signs only SLSA v1 provenance; build it with provenance.Statement")
	}
	payload, err := protojson.Marshal(stmt)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode statement: %w", err)
	}
	return k.signEnvelope(PayloadType, payload)
}

// signEnvelope signs payload as payloadType, whatever they are. Sign is the only caller outside
// tests.
func (k *Key) signEnvelope(payloadType string, payload []byte) ([]byte, error) {
	if len(k.priv) != ed25519.PrivateKeySize {
		return nil, errors.New("provenance: sign with a Key that holds no key: use LoadOrCreateKey or GenerateKey")
	}
	signer, err := dsse.NewEnvelopeSigner(&signerVerifier{id: k.id, pub: k.Public(), priv: k.priv})
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	// Signing is local and cannot block: no context to pass on.
	env, err := signer.SignPayload(context.Background(), payloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("provenance: sign: %w", err)
	}
	data, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode envelope: %w", err)
	}
	return data, nil
}

// signerVerifier is a dsse.SignerVerifier over an Ed25519 key; priv is nil when it only
// verifies. (go-securesystemslib's own one takes its keys as hex strings, a copy of the private
// key that could not be cleared.)
type signerVerifier struct {
	id   string
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

// Sign signs data, which DSSE makes the PAE of the payload type and payload.
func (s *signerVerifier) Sign(_ context.Context, data []byte) ([]byte, error) {
	if len(s.priv) != ed25519.PrivateKeySize {
		return nil, errors.New("provenance: no private key to sign with")
	}
	return ed25519.Sign(s.priv, data), nil
}

// Verify checks sig over data with the public key.
func (s *signerVerifier) Verify(_ context.Context, data, sig []byte) error {
	// ed25519.Verify panics on a public key of the wrong size, and rejects signatures with a
	// non-canonical scalar, so a valid signature cannot be reshaped into another valid one.
	if len(s.pub) != ed25519.PublicKeySize || !ed25519.Verify(s.pub, data, sig) {
		return errors.New("provenance: bad signature")
	}
	return nil
}

// KeyID returns the id signatures are labelled with.
func (s *signerVerifier) KeyID() (string, error) { return s.id, nil }

// Public returns the public key.
func (s *signerVerifier) Public() crypto.PublicKey { return s.pub }

// ParsePublicKey reads an Ed25519 public key from a PEM "PUBLIC KEY" block, as written by
// Key.PublicKeyPEM. Anything else is an EINVALID error saying what was given instead.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, rampart.Errorf(rampart.EINVALID, "the public key is not PEM").
			WithDetail("give the PEM block starting with -----BEGIN PUBLIC KEY-----, as the server publishes it")
	}
	switch block.Type {
	case "PUBLIC KEY":
	case "PRIVATE KEY", "ED25519 PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return nil, rampart.Errorf(rampart.EINVALID, "this is a private key, not a public key").
			WithDetail("verifying needs only the public key; keep the private key on the server, and replace it if it was shared")
	default:
		return nil, rampart.Errorf(rampart.EINVALID, "the PEM block is a %q, not a PUBLIC KEY", block.Type).
			WithDetail("give the server's provenance public key (-----BEGIN PUBLIC KEY-----)")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "the public key file holds more than one PEM block").
			WithDetail("give exactly one key, so that it is clear which one is trusted")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "the public key cannot be parsed: %v", err).
			WithDetail("the file may be truncated; fetch the server's provenance public key again")
	}
	edPub, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, rampart.Errorf(rampart.EINVALID, "the public key is a %T, not an Ed25519 key", pub).
			WithDetail("Rampart signs provenance with Ed25519; give the server's provenance public key")
	}
	return edPub, nil
}

func loadKey(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("provenance: open key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so that what is checked is what is read.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("provenance: stat key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, rampart.Errorf(rampart.EINVALID, "provenance key file %s is not a regular file", path).
			WithDetail("point the server at the key file, or at a path where it may create one")
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "provenance key file %s is accessible to group or others (mode %04o)", path, perm).
			WithDetail("whoever reads it can sign provenance this server trusts: run `chmod 600 %s`, and if others may have read it, move it away and restart to create a new key", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	defer clear(data)
	if err != nil {
		return nil, fmt.Errorf("provenance: read key file: %w", err)
	}
	bad := func(why string) error {
		return rampart.Errorf(rampart.EINVALID, "provenance key file %s %s", path, why).
			WithDetail("it must hold one Ed25519 private key in PEM (PKCS #8), as Rampart writes it; restore it from your backup, or move it away to have a new key created")
	}
	if len(data) > maxKeyFile {
		return nil, bad(fmt.Sprintf("is larger than %d bytes", maxKeyFile))
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, bad("holds no PEM block")
	}
	defer clear(block.Bytes)
	if block.Type != "PRIVATE KEY" {
		return nil, bad(fmt.Sprintf("holds a %q PEM block, not a PRIVATE KEY", block.Type))
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, bad("holds a private key that cannot be parsed")
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, bad(fmt.Sprintf("holds a %T, not an Ed25519 key", key))
	}
	return newKey(priv), nil
}

// createKey writes a new key to path through a synced temporary file in the same directory,
// hard-linked to path: the link fails with fs.ErrExist if path exists, so a key is never
// overwritten and a reader never sees half a file.
func createKey(path string) (*Key, error) {
	k, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode key: %w", err)
	}
	defer clear(der)
	var buf bytes.Buffer
	buf.WriteString(keyFilePreamble)
	if err := pem.Encode(&buf, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return nil, fmt.Errorf("provenance: encode key: %w", err)
	}
	data := buf.Bytes()
	defer clear(data)

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("provenance: create key directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".provenance-key-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("provenance: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	write := func() error {
		if err := tmp.Chmod(0o600); err != nil {
			return err
		}
		if _, err := tmp.Write(data); err != nil {
			return err
		}
		return tmp.Sync()
	}
	if err := write(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("provenance: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("provenance: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("provenance: install key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		// Make the new name durable; not every file system can sync a directory, and the key
		// is already in place, so a failure here is not worth failing the start for.
		_ = d.Sync()
		d.Close()
	}
	return k, nil
}
