package signer

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

const (
	fakeVault        = "myvault.vault.azure.net"
	fakeVaultVersion = "0123456789abcdef0123456789abcdef"
	fakeVaultToken   = "fake-token"
)

// fakeKeyVault speaks the Key Vault keys REST API (get key, sign) for one
// key named eucs, including the bearer challenge the SDK starts with.
type fakeKeyVault struct {
	t *testing.T
	// key is the EC key; rsa serves an RSA key instead, and crv names
	// another curve.
	key    *ecdsa.PrivateKey
	rsa    bool
	crv    string
	deny   bool
	badSig bool // return the signature DER-encoded, as a wrong fake would

	mu     sync.Mutex
	signed []string // request paths of each sign
}

func (f *fakeKeyVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("api-version") == "" {
		f.t.Errorf("%s %s without api-version", r.Method, r.URL.Path)
	}
	switch auth := r.Header.Get("Authorization"); auth {
	case "":
		// Key Vault's first answer to any client: who issues its tokens.
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"`)
		f.reply(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
		return
	case "Bearer " + fakeVaultToken:
	default:
		f.t.Errorf("authorization %q", auth)
	}
	f.mu.Lock()
	deny := f.deny
	f.mu.Unlock()
	if deny {
		f.reply(w, http.StatusForbidden, map[string]any{"error": map[string]any{
			"code":    "Forbidden",
			"message": "Caller is not authorized to perform action on resource.",
		}})
		return
	}
	kid := "https://" + fakeVault + "/keys/eucs/" + fakeVaultVersion
	b64 := base64.RawURLEncoding
	switch p := strings.TrimSuffix(r.URL.Path, "/"); {
	case r.Method == http.MethodGet && (p == "/keys/eucs" || p == "/keys/eucs/"+fakeVaultVersion):
		jwk := map[string]any{"kid": kid, "kty": "EC-HSM", "crv": "P-256", "key_ops": []string{"sign", "verify"},
			"x": b64.EncodeToString(f.key.X.FillBytes(make([]byte, 32))),
			"y": b64.EncodeToString(f.key.Y.FillBytes(make([]byte, 32)))}
		if f.crv != "" {
			jwk["crv"] = f.crv
		}
		if f.rsa {
			jwk = map[string]any{"kid": kid, "kty": "RSA", "key_ops": []string{"sign", "verify"},
				"n": b64.EncodeToString(make([]byte, 256)), "e": "AQAB"}
		}
		f.reply(w, http.StatusOK, map[string]any{"key": jwk, "attributes": map[string]any{"enabled": true}})
	case r.Method == http.MethodPost && p == "/keys/eucs/"+fakeVaultVersion+"/sign":
		var req struct {
			Alg   string `json:"alg"`
			Value string `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.t.Errorf("decode request: %v", err)
		}
		digest, err := b64.DecodeString(req.Value)
		if err != nil || req.Alg != "ES256" || len(digest) != 32 {
			f.t.Errorf("sign %q with %s: %v", req.Value, req.Alg, err)
		}
		f.mu.Lock()
		f.signed = append(f.signed, p)
		f.mu.Unlock()
		var sig []byte
		if f.badSig {
			sig, _ = ecdsa.SignASN1(rand.Reader, f.key, digest)
		} else {
			r, s, err := ecdsa.Sign(rand.Reader, f.key, digest)
			if err != nil {
				f.t.Fatal(err)
			}
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
		f.reply(w, http.StatusOK, map[string]any{"kid": kid, "value": b64.EncodeToString(sig)})
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		f.reply(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "KeyNotFound", "message": "no such key"}})
	}
}

func (f *fakeKeyVault) reply(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Ms-Request-Id", "req-1")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// fakeCredential hands out a fixed token, and only for Key Vault.
type fakeCredential struct{ t *testing.T }

func (c fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 || o.Scopes[0] != "https://vault.azure.net/.default" {
		c.t.Errorf("token requested for %q", o.Scopes)
	}
	return azcore.AccessToken{Token: fakeVaultToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// startVault serves f over TLS and returns options whose transport sends
// every request for any host to it, so that the client talks to
// https://myvault.vault.azure.net as configured, and the SDK's check that
// the challenge comes from a vault domain runs for real.
func startVault(t *testing.T, f *fakeKeyVault) Options {
	t.Helper()
	f.t = t
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	// httptest's certificate names example.com, not the vault.
	tr.TLSClientConfig.ServerName = "example.com"
	return Options{
		AzureCredential: fakeCredential{t: t},
		AzureClient:     &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: tr}}},
	}
}

func TestAzureKMSSealsAVerifiableBundle(t *testing.T) {
	key := mustKey(t)
	for _, uri := range []string{
		"azurekms://" + fakeVault + "/keys/eucs",
		"azurekms://" + fakeVault + "/keys/eucs/" + fakeVaultVersion,
	} {
		t.Run(uri, func(t *testing.T) {
			f := &fakeKeyVault{key: key}
			s, err := Open(context.Background(), uri, startVault(t, f))
			if err != nil {
				t.Fatal(err)
			}
			sealAndVerify(t, s, &key.PublicKey)
			// Signing goes to the version whose public key the signer
			// holds, even when the URI names none.
			if len(f.signed) != 1 {
				t.Errorf("signed %q, want once with the pinned version", f.signed)
			}
			// Enough signatures that some have the high bit of r or s
			// set, which the raw to DER conversion must handle.
			for i := range 32 {
				data := []byte{byte(i)}
				sig, err := s.Sign(context.Background(), data)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(data)
				if !ecdsa.VerifyASN1(&key.PublicKey, sum[:], sig) {
					t.Fatalf("signature %d (%x) does not verify", i, sig)
				}
			}
		})
	}
}

func TestAzureKMSEndpointOverride(t *testing.T) {
	key := mustKey(t)
	f := &fakeKeyVault{key: key, t: t}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	// An emulator on 127.0.0.1 is no vault domain: the test opts out of the
	// challenge check, as an emulator user must.
	opts := Options{
		AzureCredential: fakeCredential{t: t},
		AzureClient: &azkeys.ClientOptions{
			ClientOptions:                        azcore.ClientOptions{Transport: srv.Client()},
			DisableChallengeResourceVerification: true,
		},
	}
	s, err := Open(context.Background(), "azurekms://"+fakeVault+"/keys/eucs?endpoint="+srv.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	sealAndVerify(t, s, &key.PublicKey)
}

func TestAzureKMSErrors(t *testing.T) {
	uri := "azurekms://" + fakeVault + "/keys/eucs"
	t.Run("RSA key", func(t *testing.T) {
		_, err := Open(context.Background(), uri, startVault(t, &fakeKeyVault{key: mustKey(t), rsa: true}))
		want := "key https://myvault.vault.azure.net/keys/eucs is RSA, want EC P-256 (ES256)"
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("P-384 key", func(t *testing.T) {
		_, err := Open(context.Background(), uri, startVault(t, &fakeKeyVault{key: mustKey(t), crv: "P-384"}))
		want := "key https://myvault.vault.azure.net/keys/eucs is EC P-384, want EC P-256 (ES256)"
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("access denied", func(t *testing.T) {
		_, err := Open(context.Background(), uri, startVault(t, &fakeKeyVault{key: mustKey(t), deny: true}))
		want := "get Key Vault key https://myvault.vault.azure.net/keys/eucs: Key Vault answered HTTP 403 Forbidden: Caller is not authorized to perform action on resource. (the agent's identity needs the keys/get and keys/sign permissions, for example the Key Vault Crypto User role)"
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("the SDK's ResponseError is not kept: %#v", err)
		}
	})
	t.Run("access denied when signing", func(t *testing.T) {
		f := &fakeKeyVault{key: mustKey(t)}
		s, err := Open(context.Background(), uri, startVault(t, f))
		if err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.deny = true
		f.mu.Unlock()
		_, err = s.Sign(context.Background(), []byte("pae"))
		want := "sign with Key Vault key https://myvault.vault.azure.net/keys/eucs/" + fakeVaultVersion + ": Key Vault answered HTTP 403 Forbidden: Caller is not authorized to perform action on resource. (the agent's identity needs the keys/get and keys/sign permissions, for example the Key Vault Crypto User role)"
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("wrong signature encoding", func(t *testing.T) {
		s, err := Open(context.Background(), uri, startVault(t, &fakeKeyVault{key: mustKey(t), badSig: true}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Sign(context.Background(), []byte("pae"))
		if err == nil || !strings.HasPrefix(err.Error(), "sign with Key Vault key https://myvault.vault.azure.net/keys/eucs/"+fakeVaultVersion+": the signature is ") ||
			!strings.HasSuffix(err.Error(), " bytes, want 64 (r||s for ES256)") {
			t.Errorf("got %v", err)
		}
	})
}
