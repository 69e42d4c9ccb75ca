package signer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"time"

	"google.golang.org/api/cloudkms/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
)

// gcpKey is a parsed gcpkms:// URI.
type gcpKey struct {
	// name is the key version's resource name.
	name     string
	endpoint string
}

const gcpFormat = "want gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/cryptoKeyVersions/VERSION"

// gcpAlgorithm is the only Cloud KMS algorithm whose signatures are the
// bundle format's.
const gcpAlgorithm = "EC_SIGN_P256_SHA256"

// parseGCP reads gcpkms://RESOURCE-NAME[?endpoint=URL]. A key version is
// required, not a key: Cloud KMS signs with a version, and naming one keeps
// the key that signs from changing when somebody adds a version.
func parseGCP(rest string) (key, error) {
	name, q, err := splitQuery(rest, "endpoint")
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("the resource name follows two slashes, not three; %s", gcpFormat)
	}
	// Five label/id pairs; four is a key without its version.
	seg := strings.Split(name, "/")
	if len(seg) == 8 && gcpMatch(seg) {
		return nil, errors.New("names a key, not a key version: append /cryptoKeyVersions/VERSION")
	}
	if len(seg) != 10 || !gcpMatch(seg) {
		return nil, errors.New(gcpFormat)
	}
	k := &gcpKey{name: name, endpoint: q.Get("endpoint")}
	if err := checkEndpoint(k.endpoint, false); err != nil {
		return nil, err
	}
	return k, nil
}

// gcpMatch reports whether seg alternates the fixed labels with non-empty
// ids, for as many pairs as it has.
func gcpMatch(seg []string) bool {
	labels := [...]string{"projects", "locations", "keyRings", "cryptoKeys", "cryptoKeyVersions"}
	if len(seg) > 2*len(labels) {
		return false
	}
	for i := 0; i+1 < len(seg); i += 2 {
		if seg[i] != labels[i/2] || seg[i+1] == "" {
			return false
		}
	}
	return len(seg)%2 == 0
}

// gcpSigner signs with a Cloud KMS asymmetric key version.
type gcpSigner struct {
	remoteKey
	versions *cloudkms.ProjectsLocationsKeyRingsCryptoKeysCryptoKeyVersionsService
	name     string
	timeout  time.Duration
}

func (k *gcpKey) open(ctx context.Context, opts Options) (bundle.Signer, error) {
	o := []option.ClientOption{option.WithScopes(cloudkms.CloudkmsScope)}
	if k.endpoint != "" {
		// The discovery client resolves v1/... against the endpoint, so
		// it needs the trailing slash.
		o = append(o, option.WithEndpoint(strings.TrimSuffix(k.endpoint, "/")+"/"))
	}
	o = append(o, opts.GCP...)
	// The client keeps the context it is created with for its credentials
	// (token refreshes for as long as the signer lives), so it gets one
	// that is never cancelled; each call below has its own deadline.
	svc, err := cloudkms.NewService(context.WithoutCancel(ctx), o...)
	if err != nil {
		return nil, fmt.Errorf("open Cloud KMS key %s: %w", k.name, err)
	}
	versions := svc.Projects.Locations.KeyRings.CryptoKeys.CryptoKeyVersions

	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	pk, err := versions.GetPublicKey(k.name).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("get public key of Cloud KMS key %s: %w", k.name, gcpError(err))
	}
	// The checks Google recommends: the response is for the key asked
	// about, and the PEM arrived as sent.
	if pk.Name != k.name {
		return nil, fmt.Errorf("get public key of Cloud KMS key %s: the response is for %q", k.name, pk.Name)
	}
	if pk.Algorithm != gcpAlgorithm {
		return nil, fmt.Errorf("key %s is %s, want %s (ECDSA P-256)", k.name, pk.Algorithm, gcpAlgorithm)
	}
	if got := crc32c([]byte(pk.Pem)); int64(got) != pk.PemCrc32c {
		return nil, fmt.Errorf("get public key of Cloud KMS key %s: the key was corrupted in transit (CRC32C %d, response says %d)", k.name, got, pk.PemCrc32c)
	}
	block, _ := pem.Decode([]byte(pk.Pem))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("get public key of Cloud KMS key %s: the key is not a PEM \"PUBLIC KEY\"", k.name)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("get public key of Cloud KMS key %s: the key is not a valid PKIX key", k.name)
	}
	rk, err := newRemoteKey("key "+k.name, pub)
	if err != nil {
		return nil, err
	}
	return &gcpSigner{remoteKey: rk, versions: versions, name: k.name, timeout: opts.timeout()}, nil
}

// Sign sends SHA-256(data) to Cloud KMS with its CRC32C and checks the
// response's checksums, as Google asks clients to: the signature is
// returned already ASN.1 DER.
func (s *gcpSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.versions.AsymmetricSign(s.name, &cloudkms.AsymmetricSignRequest{
		Digest:       &cloudkms.Digest{Sha256: base64.StdEncoding.EncodeToString(sum[:])},
		DigestCrc32c: int64(crc32c(sum[:])),
	}).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("sign with Cloud KMS key %s: %w", s.name, gcpError(err))
	}
	if resp.Name != s.name {
		return nil, fmt.Errorf("sign with Cloud KMS key %s: the response is for %q", s.name, resp.Name)
	}
	if !resp.VerifiedDigestCrc32c {
		return nil, fmt.Errorf("sign with Cloud KMS key %s: Cloud KMS did not verify the digest's checksum; the request may have been corrupted in transit", s.name)
	}
	sig, err := base64.StdEncoding.DecodeString(resp.Signature)
	if err != nil {
		return nil, fmt.Errorf("sign with Cloud KMS key %s: the signature is not base64", s.name)
	}
	if got := crc32c(sig); int64(got) != resp.SignatureCrc32c {
		return nil, fmt.Errorf("sign with Cloud KMS key %s: the signature was corrupted in transit (CRC32C %d, response says %d)", s.name, got, resp.SignatureCrc32c)
	}
	return sig, nil
}

// String names the signer in logs.
func (s *gcpSigner) String() string { return "gcpkms signer " + s.name }

// crc32c is the Castagnoli CRC Cloud KMS uses for its integrity fields.
func crc32c(b []byte) uint32 {
	return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
}

// gcpError adds what to do about a permission error.
func gcpError(err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code == http.StatusForbidden {
		return fmt.Errorf("%w (the agent's identity needs roles/cloudkms.signerVerifier on the key)", err)
	}
	return err
}
