// Package signer opens the key evidence is signed with, named by the URI in
// signing.key: a PEM file on disk or a key held in AWS KMS, Google Cloud KMS
// or Azure Key Vault. Every signer satisfies bundle.Signer and produces the
// same signature the file key does (ASN.1 DER ECDSA P-256 over the SHA-256 of
// the DSSE PAE), so auditors verify a KMS-signed bundle with the same openssl
// commands and the same key.pub.
//
// The KMS signers hash the PAE locally and send only the 32-byte digest, so a
// bundle of any size can be signed (the KMS message limits are a few KiB),
// and the PAE never leaves the agent. The public key is fetched once, when
// the signer is opened; opening therefore also proves that the key exists,
// is ECDSA P-256 and is readable with the agent's credentials.
package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/aws/aws-sdk-go-v2/aws"
	"google.golang.org/api/option"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
)

// DefaultTimeout bounds each call to a KMS when Options.Timeout is zero. A
// sign is one small request; anything slower is an outage, and a run should
// fail (and be retried by the next schedule) rather than hang.
const DefaultTimeout = 30 * time.Second

// Options are what Open takes from outside the URI: SDK settings and
// credentials, which tests and the demo replace. The zero value uses each
// provider's default credential chain against its real endpoints.
type Options struct {
	// Timeout bounds each network call (opening and every signature);
	// zero means DefaultTimeout.
	Timeout time.Duration
	// AWS is the base AWS SDK configuration (credentials, HTTP client,
	// retries); nil loads the default chain. The region and endpoint
	// always come from the URI.
	AWS *aws.Config
	// GCP are extra Cloud KMS client options, applied after the URI's
	// endpoint; nil means Application Default Credentials.
	GCP []option.ClientOption
	// AzureCredential authenticates to Key Vault; nil means
	// DefaultAzureCredential.
	AzureCredential azcore.TokenCredential
	// AzureClient carries Key Vault client settings such as a test
	// transport; nil means the SDK defaults.
	AzureClient *azkeys.ClientOptions
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// Open returns the signer the URI names:
//
//	/path/key.pem or file:///path/key.pem
//	awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID
//	awskms:///alias/NAME?region=REGION
//	gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V
//	azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]
//
// The KMS URIs take ?endpoint=URL to talk to an emulator or a private
// endpoint instead. For a KMS key, Open fetches the public key (one call,
// bounded by Options.Timeout) and fails unless it is ECDSA P-256.
func Open(ctx context.Context, uri string, opts Options) (bundle.Signer, error) {
	k, err := parse(uri)
	if err != nil {
		return nil, err
	}
	return k.open(ctx, opts)
}

// Validate checks a key URI without reading the key or calling a KMS, so that
// config validation reports a malformed URI along with the config's other
// problems. Its errors quote the URI and say what is wrong with it.
func Validate(uri string) error {
	_, err := parse(uri)
	return err
}

// key is a parsed URI that can open its signer.
type key interface {
	open(ctx context.Context, opts Options) (bundle.Signer, error)
}

// parse dispatches on the URI's scheme. Anything without "://" is a file
// path, as signing.key has always accepted.
func parse(uri string) (key, error) {
	if strings.TrimSpace(uri) == "" {
		return nil, errors.New("no key URI")
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return fileKey{path: uri}, nil
	}
	var (
		k   key
		err error
	)
	switch scheme {
	case "file":
		k, err = parseFile(rest)
	case "awskms":
		k, err = parseAWS(rest)
	case "gcpkms":
		k, err = parseGCP(rest)
	case "azurekms":
		k, err = parseAzure(rest)
	default:
		err = fmt.Errorf("unknown scheme %q; use file://, awskms://, gcpkms:// or azurekms://", scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("%q: %w", uri, err)
	}
	return k, nil
}

// fileKey is a PEM private key on disk.
type fileKey struct{ path string }

// parseFile keeps the agent's historic reading of file:// (the rest is the
// path, so file://key.pem is relative and file:///etc/key.pem absolute).
func parseFile(rest string) (key, error) {
	if rest == "" {
		return nil, errors.New("no file path")
	}
	return fileKey{path: rest}, nil
}

func (k fileKey) open(context.Context, Options) (bundle.Signer, error) {
	return bundle.LoadFileSigner(k.path)
}

// splitQuery separates a URI's rest from its query and checks that the query
// holds only the allowed parameters, each once and non-empty: a misspelt
// ?regoin= must not silently sign with a key in another region.
func splitQuery(rest string, allowed ...string) (string, url.Values, error) {
	path, raw, found := strings.Cut(rest, "?")
	if !found {
		return path, url.Values{}, nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", nil, fmt.Errorf("malformed query: %w", err)
	}
	// Sorted, so that the error for several bad parameters is stable.
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case !slices.Contains(allowed, name):
			return "", nil, fmt.Errorf("unknown parameter %q (this scheme takes %s)", name, strings.Join(allowed, ", "))
		case len(q[name]) > 1:
			return "", nil, fmt.Errorf("parameter %q is given %d times", name, len(q[name]))
		case q.Get(name) == "":
			return "", nil, fmt.Errorf("parameter %q is empty", name)
		}
	}
	return path, q, nil
}

// checkEndpoint accepts an absolute http(s) URL without credentials in it;
// httpsOnly is for Azure, whose SDK refuses to send a token over plain HTTP.
func checkEndpoint(s string, httpsOnly bool) error {
	if s == "" {
		return nil
	}
	want := "an http:// or https:// URL"
	if httpsOnly {
		want = "an https:// URL"
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && (httpsOnly || u.Scheme != "http")) {
		return fmt.Errorf("endpoint %q is not %s", s, want)
	}
	if u.User != nil {
		return errors.New("endpoint must not carry credentials")
	}
	return nil
}

// remoteKey is what every KMS signer shares: the public key fetched when it
// was opened and the key id derived from it.
type remoteKey struct {
	pub   *ecdsa.PublicKey
	keyID string
}

// newRemoteKey checks that pub is ECDSA P-256 and derives its key id; name
// is how errors refer to the key ("AWS KMS key alias/x").
func newRemoteKey(name string, pub crypto.PublicKey) (remoteKey, error) {
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return remoteKey{}, fmt.Errorf("%s is %s, want ECDSA P-256", name, keyKind(pub))
	}
	if ec.Curve != elliptic.P256() {
		return remoteKey{}, fmt.Errorf("%s is ECDSA %s, want ECDSA P-256", name, ec.Curve.Params().Name)
	}
	id, err := bundle.KeyID(ec)
	if err != nil {
		return remoteKey{}, fmt.Errorf("%s: %w", name, err)
	}
	return remoteKey{pub: ec, keyID: id}, nil
}

// KeyID returns the hex SHA-256 of the public key (see bundle.KeyID), the
// same id the key would have as a file.
func (k remoteKey) KeyID() (string, error) { return k.keyID, nil }

// Public returns the ECDSA P-256 public key.
func (k remoteKey) Public() crypto.PublicKey { return k.pub }

// keyKind names a public key's algorithm for error messages.
func keyKind(k crypto.PublicKey) string {
	switch k.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return "missing"
	default:
		return fmt.Sprintf("%T", k)
	}
}
