package bundle

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pemFile writes a PEM block to dir/name and returns its path.
func pemFile(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// secretLines are the base64 lines of a PEM file, none of which may ever
// appear in an error or a bundle.
func secretLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func TestLoadFileSignerErrors(t *testing.T) {
	dir := t.TempDir()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	pk8P384, _ := x509.MarshalPKCS8PrivateKey(p384)
	pk8Ed, _ := x509.MarshalPKCS8PrivateKey(ed)
	pubDER, _ := x509.MarshalPKIXPublicKey(&p256.PublicKey)

	notPEM := filepath.Join(dir, "not-pem.txt")
	if err := os.WriteFile(notPEM, []byte("just some text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing file", filepath.Join(dir, "missing.pem"), "load signing key: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory"},
		{"not PEM", notPEM, "load signing key " + notPEM + ": not a PEM file"},
		{"SEC 1 EC key", pemFile(t, dir, "sec1.pem", "EC PRIVATE KEY", sec1),
			"load signing key " + filepath.Join(dir, "sec1.pem") + `: PEM block is "EC PRIVATE KEY" (SEC 1), want "PRIVATE KEY" (PKCS#8); convert it with: openssl pkcs8 -topk8 -nocrypt -in OLD.pem -out key.pem`},
		{"encrypted key", pemFile(t, dir, "enc.pem", "ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}),
			"load signing key " + filepath.Join(dir, "enc.pem") + ": the key is encrypted; the agent needs an unencrypted PKCS#8 key (protect it with file permissions or use a KMS signer)"},
		{"a public key", pemFile(t, dir, "pub.pem", "PUBLIC KEY", pubDER),
			"load signing key " + filepath.Join(dir, "pub.pem") + `: PEM block is "PUBLIC KEY", want "PRIVATE KEY" (PKCS#8)`},
		{"not PKCS#8 inside", pemFile(t, dir, "junk.pem", "PRIVATE KEY", sec1),
			"load signing key " + filepath.Join(dir, "junk.pem") + `: the "PRIVATE KEY" block does not hold a valid PKCS#8 key`},
		{"Ed25519 key", pemFile(t, dir, "ed.pem", "PRIVATE KEY", pk8Ed),
			"load signing key " + filepath.Join(dir, "ed.pem") + ": key is Ed25519, want ECDSA P-256"},
		{"P-384 key", pemFile(t, dir, "p384.pem", "PRIVATE KEY", pk8P384),
			"load signing key " + filepath.Join(dir, "p384.pem") + ": key is ECDSA P-384, want ECDSA P-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFileSigner(tt.path)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tt.want)
			}
			for _, l := range secretLines(t, tt.path) {
				if strings.Contains(err.Error(), l) {
					t.Errorf("error quotes the key file: %v", err)
				}
			}
		})
	}
}

func TestLoadPublicKeyErrors(t *testing.T) {
	dir := t.TempDir()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	pk8, _ := x509.MarshalPKCS8PrivateKey(p256)
	pub384, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	pubEd, _ := x509.MarshalPKIXPublicKey(edPub)
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing file", filepath.Join(dir, "missing.pub"), "load public key: open " + filepath.Join(dir, "missing.pub") + ": no such file or directory"},
		{"the private key by mistake", pemFile(t, dir, "key.pem", "PRIVATE KEY", pk8),
			"load public key " + filepath.Join(dir, "key.pem") + `: PEM block is "PRIVATE KEY", want "PUBLIC KEY"`},
		{"junk inside", pemFile(t, dir, "junk.pub", "PUBLIC KEY", []byte("junk")),
			"load public key " + filepath.Join(dir, "junk.pub") + `: the "PUBLIC KEY" block does not hold a valid PKIX key`},
		{"P-384 key", pemFile(t, dir, "p384.pub", "PUBLIC KEY", pub384),
			"load public key " + filepath.Join(dir, "p384.pub") + ": key is ECDSA P-384, want ECDSA P-256"},
		{"Ed25519 key", pemFile(t, dir, "ed.pub", "PUBLIC KEY", pubEd),
			"load public key " + filepath.Join(dir, "ed.pub") + ": key is Ed25519, want ECDSA P-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadPublicKey(tt.path)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tt.want)
			}
			for _, l := range secretLines(t, tt.path) {
				if strings.Contains(err.Error(), l) {
					t.Errorf("error quotes the key file: %v", err)
				}
			}
		})
	}
}

func TestGenerateKeyWritesAUsablePair(t *testing.T) {
	dir := t.TempDir()
	priv, pub, err := GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if priv != filepath.Join(dir, "key.pem") || pub != filepath.Join(dir, "key.pub") {
		t.Errorf("paths %s, %s", priv, pub)
	}
	for p, mode := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		// The umask can only remove bits, never leave the private key open.
		if got := info.Mode().Perm(); got&^mode != 0 {
			t.Errorf("%s has mode %v, want at most %v", p, got, mode)
		}
	}
	s, err := LoadFileSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := s.KeyID()
	if want, _ := KeyID(k); id != want {
		t.Errorf("signer key id %s, public key file's %s", id, want)
	}
	if len(id) != 64 || strings.ToLower(id) != id {
		t.Errorf("key id %q is not lowercase hex sha256", id)
	}
}

func TestGenerateKeyRefusesToOverwrite(t *testing.T) {
	for _, existing := range []string{"key.pem", "key.pub"} {
		t.Run(existing, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, existing)
			if err := os.WriteFile(p, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := GenerateKey(dir)
			want := "generate key: " + p + " already exists; refusing to overwrite it"
			if err == nil || err.Error() != want {
				t.Fatalf("error %v, want %s", err, want)
			}
			if got, _ := os.ReadFile(p); string(got) != "precious" {
				t.Errorf("%s was overwritten", existing)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("refused GenerateKey left %d files, want only the existing one", len(entries))
			}
		})
	}
}

func TestPrivateKeyNeverLeaves(t *testing.T) {
	dir := t.TempDir()
	priv, _, err := GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadFileSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	b := seal(t, s, Link{Sequence: 1}, 1, []string{"111111111111"}, 5)
	_, payload := decodeEnvelope(t, b.Envelope)

	key := s.(*fileSigner).key
	d := key.D.Bytes()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	secrets := append(secretLines(t, priv),
		hex.EncodeToString(d), base64.StdEncoding.EncodeToString(d), base64.StdEncoding.EncodeToString(der)[:40], key.D.String())
	printed := fmt.Sprintf("%v %+v %#v %s", s, s, s, s)
	for _, secret := range secrets {
		for what, text := range map[string]string{"envelope": string(b.Envelope), "payload": string(payload), "printed signer": printed} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s contains private key material", what)
			}
		}
	}
}
