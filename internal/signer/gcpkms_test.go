package signer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/api/option"
)

const fakeGCPName = "projects/p/locations/europe-west1/keyRings/eucs/cryptoKeys/evidence/cryptoKeyVersions/1"

// fakeCloudKMS speaks Cloud KMS REST v1 (getPublicKey, asymmetricSign) for
// one key version, with the CRC32C integrity fields real Cloud KMS sends.
type fakeCloudKMS struct {
	t         *testing.T
	key       crypto.Signer
	algorithm string // EC_SIGN_P256_SHA256 when empty
	deny      bool
	// corruptSignature and corruptPEM flip a bit after the checksum is
	// computed, as a corrupting network would.
	corruptSignature, corruptPEM bool
	// skipDigestCheck answers as a server that did not check the
	// request's digest CRC32C.
	skipDigestCheck bool

	mu    sync.Mutex
	signs int
}

func (f *fakeCloudKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.deny {
		f.reply(w, http.StatusForbidden, map[string]any{"error": map[string]any{
			"code":    403,
			"message": "Permission 'cloudkms.cryptoKeyVersions.viewPublicKey' denied on resource '" + fakeGCPName + "' (or it may not exist).",
			"status":  "PERMISSION_DENIED",
		}})
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/"+fakeGCPName+"/publicKey":
		der, err := x509.MarshalPKIXPublicKey(f.key.Public())
		if err != nil {
			f.t.Fatal(err)
		}
		pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		crc := crc32c([]byte(pemText))
		if f.corruptPEM {
			pemText = strings.Replace(pemText, "A", "B", 1)
		}
		alg := f.algorithm
		if alg == "" {
			alg = "EC_SIGN_P256_SHA256"
		}
		f.reply(w, http.StatusOK, map[string]any{
			"name": fakeGCPName, "pem": pemText, "algorithm": alg,
			"pemCrc32c": strconv.FormatUint(uint64(crc), 10), "protectionLevel": "HSM",
		})
	case r.Method == http.MethodPost && r.URL.Path == "/v1/"+fakeGCPName+":asymmetricSign":
		var req struct {
			Digest struct {
				SHA256 []byte `json:"sha256"`
			} `json:"digest"`
			DigestCRC32C string `json:"digestCrc32c"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.t.Errorf("decode request: %v", err)
		}
		verified := req.DigestCRC32C == strconv.FormatUint(uint64(crc32c(req.Digest.SHA256)), 10)
		if !verified || len(req.Digest.SHA256) != 32 {
			f.t.Errorf("digest of %d bytes with CRC32C %q", len(req.Digest.SHA256), req.DigestCRC32C)
		}
		f.mu.Lock()
		f.signs++
		f.mu.Unlock()
		sig, err := f.key.Sign(rand.Reader, req.Digest.SHA256, crypto.SHA256)
		if err != nil {
			f.t.Fatal(err)
		}
		crc := crc32c(sig)
		if f.corruptSignature {
			sig[len(sig)-1] ^= 1
		}
		f.reply(w, http.StatusOK, map[string]any{
			"name":                 fakeGCPName,
			"signature":            base64.StdEncoding.EncodeToString(sig),
			"signatureCrc32c":      strconv.FormatUint(uint64(crc), 10),
			"verifiedDigestCrc32c": verified && !f.skipDigestCheck,
			"protectionLevel":      "HSM",
		})
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		f.reply(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": 404, "message": "not found", "status": "NOT_FOUND"}})
	}
}

func (f *fakeCloudKMS) reply(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// openGCP opens the fake's key through the URI's ?endpoint=, with no
// credentials (the fake wants none).
func openGCP(t *testing.T, f *fakeCloudKMS) (interface {
	Sign(context.Context, []byte) ([]byte, error)
}, error) {
	t.Helper()
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return Open(context.Background(), "gcpkms://"+fakeGCPName+"?endpoint="+srv.URL,
		Options{GCP: []option.ClientOption{option.WithoutAuthentication()}})
}

func TestGCPKMSSealsAVerifiableBundle(t *testing.T) {
	key := mustKey(t)
	f := &fakeCloudKMS{key: key}
	f.t = t
	srv := httptest.NewServer(f)
	defer srv.Close()
	s, err := Open(context.Background(), "gcpkms://"+fakeGCPName+"?endpoint="+srv.URL+"/",
		Options{GCP: []option.ClientOption{option.WithoutAuthentication()}})
	if err != nil {
		t.Fatal(err)
	}
	sealAndVerify(t, s, &key.PublicKey)
	if f.signs != 1 {
		t.Errorf("%d signs, want 1", f.signs)
	}
}

func TestGCPKMSErrors(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	openTests := []struct {
		name string
		fake *fakeCloudKMS
		want string
	}{
		{
			name: "RSA key",
			fake: &fakeCloudKMS{key: rsaKey, algorithm: "RSA_SIGN_PKCS1_2048_SHA256"},
			want: "key " + fakeGCPName + " is RSA_SIGN_PKCS1_2048_SHA256, want EC_SIGN_P256_SHA256 (ECDSA P-256)",
		},
		{
			name: "algorithm says P-256 but the key is RSA",
			fake: &fakeCloudKMS{key: rsaKey},
			want: "key " + fakeGCPName + " is RSA, want ECDSA P-256",
		},
		{
			name: "access denied",
			fake: &fakeCloudKMS{key: mustKey(t), deny: true},
			want: "get public key of Cloud KMS key " + fakeGCPName + ": googleapi: Error 403: Permission 'cloudkms.cryptoKeyVersions.viewPublicKey' denied on resource '" + fakeGCPName + "' (or it may not exist). (the agent's identity needs roles/cloudkms.signerVerifier on the key)",
		},
		{
			name: "corrupted public key",
			fake: &fakeCloudKMS{key: mustKey(t), corruptPEM: true},
			want: "get public key of Cloud KMS key " + fakeGCPName + ": the key was corrupted in transit (CRC32C ",
		},
	}
	for _, tt := range openTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openGCP(t, tt.fake)
			if err == nil || !matches(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}

	signTests := []struct {
		name string
		fake *fakeCloudKMS
		want string
	}{
		{
			name: "corrupted signature",
			fake: &fakeCloudKMS{key: mustKey(t), corruptSignature: true},
			want: "sign with Cloud KMS key " + fakeGCPName + ": the signature was corrupted in transit (CRC32C ",
		},
		{
			name: "digest checksum not verified",
			fake: &fakeCloudKMS{key: mustKey(t), skipDigestCheck: true},
			want: "sign with Cloud KMS key " + fakeGCPName + ": Cloud KMS did not verify the digest's checksum; the request may have been corrupted in transit",
		},
	}
	for _, tt := range signTests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := openGCP(t, tt.fake)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Sign(context.Background(), []byte("pae"))
			if err == nil || !matches(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

// matches compares an error message with want exactly, or, when want ends
// in "(CRC32C ", up to the checksums, which vary with the random key.
func matches(got, want string) bool {
	if strings.HasSuffix(want, "(CRC32C ") {
		return strings.HasPrefix(got, want) && strings.HasSuffix(got, ")") && strings.Contains(got, ", response says ")
	}
	return got == want
}
