package bundle

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Signer signs a bundle's DSSE pre-authentication encoding. It is a superset
// of dsse.Signer so that any signer can be handed to dsse.EnvelopeSigner, and
// it exposes the public key so that Seal can check every signature before a
// bundle leaves the agent: a KMS signer that returns the wrong signature
// encoding is caught at run time, not by an auditor months later.
//
// Sign receives the full message (the PAE), not a digest; the implementation
// hashes it with SHA-256 and returns an ASN.1 DER ECDSA P-256 signature.
type Signer interface {
	Sign(ctx context.Context, data []byte) ([]byte, error)
	KeyID() (string, error)
	Public() crypto.PublicKey
}

// Names of the files GenerateKey writes.
const (
	PrivateKeyFile = "key.pem"
	PublicKeyFile  = "key.pub"
)

// KeyID is the identifier auditors see in every envelope: the lowercase hex
// SHA-256 of the public key's DER (PKIX, SubjectPublicKeyInfo) encoding, so
// that it can be recomputed from key.pub with openssl and sha256sum alone.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// fileSigner signs with an ECDSA P-256 key read from a PEM file.
type fileSigner struct {
	key   *ecdsa.PrivateKey
	keyID string
}

// LoadFileSigner reads a PEM-encoded, unencrypted PKCS#8 ECDSA P-256 private
// key (what GenerateKey writes and `openssl genpkey -algorithm EC -pkeyopt
// ec_paramgen_curve:P-256` prints). Errors name the file and say what is
// wrong with it, and never quote the key.
func LoadFileSigner(path string) (Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: %w", path, err)
	}
	id, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: %w", path, err)
	}
	return &fileSigner{key: key, keyID: id}, nil
}

func parsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM file")
	}
	switch block.Type {
	case "PRIVATE KEY":
	case "EC PRIVATE KEY":
		return nil, errors.New(`PEM block is "EC PRIVATE KEY" (SEC 1), want "PRIVATE KEY" (PKCS#8); convert it with: openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out key.pem`)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the key is encrypted; the agent needs an unencrypted PKCS#8 key (protect it with file permissions or use a KMS signer)")
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	// The x509/asn1 error is not wrapped: it describes ASN.1 tags, which
	// helps nobody fix a key file.
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New(`the "PRIVATE KEY" block does not hold a valid PKCS#8 key`)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %s, want ECDSA P-256", keyKind(k))
	}
	if ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("key is ECDSA %s, want ECDSA P-256", ec.Curve.Params().Name)
	}
	return ec, nil
}

// keyKind names a key's algorithm for error messages without printing it.
func keyKind(k any) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PrivateKey, ed25519.PublicKey:
		return "Ed25519"
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	default:
		return fmt.Sprintf("%T", k)
	}
}

// Sign hashes data with SHA-256 and signs the digest, returning ASN.1 DER.
func (s *fileSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	return s.SignDigest(ctx, sum[:])
}

// SignDigest signs a SHA-256 digest the caller computed (see signEnvelope).
func (s *fileSigner) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest)
	if err != nil {
		return nil, fmt.Errorf("sign with key %s: %w", s.keyID, err)
	}
	return sig, nil
}

// KeyID returns the key's identifier (see the package-level KeyID).
func (s *fileSigner) KeyID() (string, error) { return s.keyID, nil }

// Public returns the ECDSA public key.
func (s *fileSigner) Public() crypto.PublicKey { return &s.key.PublicKey }

// String keeps the private key out of logs: without it, %v on a signer would
// print the private scalar.
func (s *fileSigner) String() string { return "file signer " + s.keyID }

// GoString does the same for %#v.
func (s *fileSigner) GoString() string { return s.String() }

// GenerateKey creates a new ECDSA P-256 key pair in dir: key.pem (PKCS#8,
// mode 0600) and key.pub (PKIX, for auditors). It refuses to overwrite either
// file, because replacing the key of a running chain would leave auditors
// with bundles nobody can verify.
func GenerateKey(dir string) (privPath, pubPath string, err error) {
	privPath = filepath.Join(dir, PrivateKeyFile)
	pubPath = filepath.Join(dir, PublicKeyFile)
	// Check both before writing either, so a refusal leaves nothing behind.
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("generate key: %s already exists; refusing to overwrite it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("generate key: %w", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	if err := writeNew(privPath, &pem.Block{Type: "PRIVATE KEY", Bytes: privDER}, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, &pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}, 0o644); err != nil {
		// Without its public half the private key is useless to auditors;
		// remove it so that a retry starts clean.
		os.Remove(privPath)
		return "", "", err
	}
	return privPath, pubPath, nil
}

// writeNew writes a PEM block to a file that must not exist yet (O_EXCL closes
// the race between GenerateKey's check and the write) and fsyncs it.
func writeNew(path string, b *pem.Block, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("generate key: %s already exists; refusing to overwrite it", path)
		}
		return fmt.Errorf("generate key: %w", err)
	}
	err = pem.Encode(f, b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("generate key: write %s: %w", path, err)
	}
	return nil
}

// LoadPublicKey reads a PEM "PUBLIC KEY" (PKIX) ECDSA P-256 key, the format
// of key.pub and of `openssl pkey -pubout`.
func LoadPublicKey(path string) (*ecdsa.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("load public key %s: not a PEM file", path)
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("load public key %s: PEM block is %q, want \"PUBLIC KEY\"", path, block.Type)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		// Not wrapped, for the same reason as in parsePrivateKey.
		return nil, fmt.Errorf(`load public key %s: the "PUBLIC KEY" block does not hold a valid PKIX key`, path)
	}
	pub, err := p256Public(k)
	if err != nil {
		return nil, fmt.Errorf("load public key %s: %w", path, err)
	}
	return pub, nil
}

// p256Public accepts only ECDSA P-256 public keys: the format contract names
// exactly one algorithm so that auditors' openssl commands stay fixed.
func p256Public(k crypto.PublicKey) (*ecdsa.PublicKey, error) {
	if k == nil {
		return nil, errors.New("no public key")
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key is %s, want ECDSA P-256", keyKind(k))
	}
	if pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("key is ECDSA %s, want ECDSA P-256", pub.Curve.Params().Name)
	}
	return pub, nil
}

// verifier is the dsse.Verifier for one P-256 public key.
type verifier struct {
	pub   *ecdsa.PublicKey
	keyID string
}

// Verify checks an ASN.1 DER ECDSA signature over SHA-256(data).
func (v *verifier) Verify(_ context.Context, data, sig []byte) error {
	sum := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(v.pub, sum[:], sig) {
		return fmt.Errorf("signature does not verify with key %s", v.keyID)
	}
	return nil
}

// KeyID returns our key id, so that dsse only tries signatures made with it.
func (v *verifier) KeyID() (string, error) { return v.keyID, nil }

// Public returns the key.
func (v *verifier) Public() crypto.PublicKey { return v.pub }
