package signer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
)

// azureKey is a parsed azurekms:// URI.
type azureKey struct {
	vault string // host, like myvault.vault.azure.net
	name  string
	// version is empty for the key's current version.
	version  string
	endpoint string
}

const azureFormat = "want azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]"

// parseAzure reads azurekms://VAULT-HOST/keys/NAME[/VERSION][?endpoint=URL].
func parseAzure(rest string) (key, error) {
	path, q, err := splitQuery(rest, "endpoint")
	if err != nil {
		return nil, err
	}
	host, p, _ := strings.Cut(path, "/")
	if host == "" {
		return nil, fmt.Errorf("no vault host; %s", azureFormat)
	}
	if !azureName(host, ".") {
		return nil, fmt.Errorf("%q is not a vault host name; %s", host, azureFormat)
	}
	seg := strings.Split(p, "/")
	if len(seg) < 2 || len(seg) > 3 || seg[0] != "keys" {
		return nil, errors.New(azureFormat)
	}
	k := &azureKey{vault: host, name: seg[1], endpoint: q.Get("endpoint")}
	if len(seg) == 3 {
		k.version = seg[2]
		if !azureName(k.version, "") {
			return nil, fmt.Errorf("key version %q is not a Key Vault key version; %s", k.version, azureFormat)
		}
	}
	if !azureName(k.name, "") {
		return nil, fmt.Errorf("key name %q is not a Key Vault key name (letters, digits and dashes); %s", k.name, azureFormat)
	}
	if err := checkEndpoint(k.endpoint, true); err != nil {
		return nil, err
	}
	return k, nil
}

// azureName reports whether s is non-empty and only letters, digits, dashes
// and the extra characters.
func azureName(s, extra string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && !strings.ContainsRune(extra, c) {
			return false
		}
	}
	return true
}

// keyURL is how errors name the key: its Key Vault identifier.
func (k *azureKey) keyURL() string {
	u := "https://" + k.vault + "/keys/" + k.name
	if k.version != "" {
		u += "/" + k.version
	}
	return u
}

// azureAPI is the part of the Key Vault keys client the signer uses.
type azureAPI interface {
	Sign(ctx context.Context, name, version string, params azkeys.SignParameters, opts *azkeys.SignOptions) (azkeys.SignResponse, error)
	GetKey(ctx context.Context, name, version string, opts *azkeys.GetKeyOptions) (azkeys.GetKeyResponse, error)
}

// azureSigner signs with a Key Vault (or Managed HSM) EC P-256 key.
type azureSigner struct {
	remoteKey
	api  azureAPI
	name string
	// version is the version whose public key we hold, pinned when the
	// URI names none: a key rotated mid-run would otherwise sign with a
	// version that does not match Public.
	version string
	keyURL  string
	timeout time.Duration
}

func (k *azureKey) open(ctx context.Context, opts Options) (bundle.Signer, error) {
	cred := opts.AzureCredential
	if cred == nil {
		c, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("open Key Vault key %s: set up Azure credentials: %w", k.keyURL(), err)
		}
		cred = c
	}
	var co azkeys.ClientOptions
	if opts.AzureClient != nil {
		co = *opts.AzureClient
	}
	vaultURL := "https://" + k.vault
	if k.endpoint != "" {
		vaultURL = k.endpoint
	}
	client, err := azkeys.NewClient(vaultURL, cred, &co)
	if err != nil {
		return nil, fmt.Errorf("open Key Vault key %s: %w", k.keyURL(), err)
	}

	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	resp, err := client.GetKey(ctx, k.name, k.version, nil)
	if err != nil {
		return nil, fmt.Errorf("get Key Vault key %s: %w", k.keyURL(), azureError(err))
	}
	jwk := resp.Key
	if jwk == nil || jwk.Kty == nil {
		return nil, fmt.Errorf("get Key Vault key %s: the response holds no key", k.keyURL())
	}
	if kty := *jwk.Kty; kty != azkeys.KeyTypeEC && kty != azkeys.KeyTypeECHSM {
		return nil, fmt.Errorf("key %s is %s, want EC P-256 (ES256)", k.keyURL(), kty)
	}
	if jwk.Crv == nil || *jwk.Crv != azkeys.CurveNameP256 {
		crv := "with no curve"
		if jwk.Crv != nil {
			crv = string(*jwk.Crv)
		}
		return nil, fmt.Errorf("key %s is EC %s, want EC P-256 (ES256)", k.keyURL(), crv)
	}
	pub, err := jwkPublic(jwk)
	if err != nil {
		return nil, fmt.Errorf("get Key Vault key %s: %w", k.keyURL(), err)
	}
	rk, err := newRemoteKey("key "+k.keyURL(), pub)
	if err != nil {
		return nil, err
	}
	version := k.version
	if version == "" && jwk.KID != nil {
		version = jwk.KID.Version()
	}
	if version == "" {
		return nil, fmt.Errorf("get Key Vault key %s: the response does not say which version it is", k.keyURL())
	}
	return &azureSigner{
		remoteKey: rk,
		api:       client,
		name:      k.name,
		version:   version,
		keyURL:    "https://" + k.vault + "/keys/" + k.name + "/" + version,
		timeout:   opts.timeout(),
	}, nil
}

// jwkPublic builds the ECDSA key from a P-256 JWK's coordinates, checking
// that the point is on the curve.
func jwkPublic(jwk *azkeys.JSONWebKey) (*ecdsa.PublicKey, error) {
	if len(jwk.X) != 32 || len(jwk.Y) != 32 {
		return nil, fmt.Errorf("the key's coordinates are %d and %d bytes, want 32 each", len(jwk.X), len(jwk.Y))
	}
	point := make([]byte, 0, 65)
	point = append(append(append(point, 4), jwk.X...), jwk.Y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, errors.New("the key's coordinates are not a point on P-256")
	}
	return pub, nil
}

// Sign sends SHA-256(data) to Key Vault for ES256 and converts the JOSE
// signature it returns to ASN.1 DER.
func (s *azureSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.api.Sign(ctx, s.name, s.version, azkeys.SignParameters{
		Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256),
		Value:     sum[:],
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("sign with Key Vault key %s: %w", s.keyURL, azureError(err))
	}
	der, err := rawToDER(resp.Result)
	if err != nil {
		return nil, fmt.Errorf("sign with Key Vault key %s: %w", s.keyURL, err)
	}
	return der, nil
}

// String names the signer in logs.
func (s *azureSigner) String() string { return "azurekms signer " + s.keyURL }

// rawToDER converts a JOSE ECDSA P-256 signature (RFC 7518 section 3.4:
// r and s as 32-byte big-endian integers, concatenated) to the ASN.1 DER
// SEQUENCE { r INTEGER, s INTEGER } that DSSE verifiers and openssl expect.
// The standard library converts only inside crypto/ecdsa, unexported, so
// this is hand-rolled; encoding/asn1 does the INTEGER rules (leading zero
// bytes dropped, a 0x00 added when the high bit is set).
func rawToDER(raw []byte) ([]byte, error) {
	if len(raw) != 64 {
		return nil, fmt.Errorf("the signature is %d bytes, want 64 (r||s for ES256)", len(raw))
	}
	r := new(big.Int).SetBytes(raw[:32])
	s := new(big.Int).SetBytes(raw[32:])
	if r.Sign() == 0 || s.Sign() == 0 {
		return nil, errors.New("the signature has a zero r or s")
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		return nil, fmt.Errorf("encode signature: %w", err)
	}
	return der, nil
}

// azureError restates a Key Vault error response in one line, with what to
// do about a permission error. The SDK's own message spells out the request
// and the whole response body over a dozen lines, which would bury the
// point of a config error.
func azureError(err error) error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	msg := fmt.Sprintf("Key Vault answered HTTP %d %s", re.StatusCode, re.ErrorCode)
	if m := keyVaultMessage(re); m != "" {
		msg += ": " + m
	}
	if re.StatusCode == http.StatusForbidden {
		msg += " (the agent's identity needs the keys/get and keys/sign permissions, for example the Key Vault Crypto User role)"
	}
	return &keyVaultError{re: re, msg: msg}
}

// keyVaultError is a ResponseError with a short message; errors.As still
// finds the ResponseError.
type keyVaultError struct {
	re  *azcore.ResponseError
	msg string
}

func (e *keyVaultError) Error() string { return e.msg }

// Unwrap returns the SDK's error.
func (e *keyVaultError) Unwrap() error { return e.re }

// keyVaultMessage is the message of a Key Vault error body, or "".
func keyVaultMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return ""
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Message
}
