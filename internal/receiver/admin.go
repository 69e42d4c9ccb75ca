package receiver

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/receiver/store"
)

// nameRe is what tenant and auditor names may be: they become directory
// names and URL path segments.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// CheckName reports why a tenant or auditor name is unusable.
func CheckName(name string) error {
	if !nameRe.MatchString(name) {
		return fmt.Errorf("name %q must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// KeyFromFile reads an agent's public key (PEM, ECDSA P-256, as
// `eucs-agent keygen` writes it) into a key record valid from notBefore
// until notAfter (zero: open-ended).
func KeyFromFile(tenant, path string, notBefore, notAfter, now time.Time) (store.Key, error) {
	pub, err := bundle.LoadPublicKey(path)
	if err != nil {
		return store.Key{}, err
	}
	id, err := bundle.KeyID(pub)
	if err != nil {
		return store.Key{}, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return store.Key{}, fmt.Errorf("encode key %s: %w", path, err)
	}
	if notBefore.IsZero() {
		notBefore = now
	}
	if !notAfter.IsZero() && !notAfter.After(notBefore) {
		return store.Key{}, fmt.Errorf("--not-after %s is not after --not-before %s", notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	return store.Key{
		Tenant: tenant, KeyID: id,
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		NotBefore:    notBefore.UTC(), NotAfter: notAfter.UTC(), Added: now.UTC(),
	}, nil
}
