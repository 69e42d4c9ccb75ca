package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

const (
	fakeAWSARN   = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	fakeAWSAlias = "alias/eucs"
)

// fakeAWSKMS speaks the AWS JSON 1.1 protocol of KMS (TrentService) for one
// key, so that the real SDK serializes, signs (SigV4) and parses.
type fakeAWSKMS struct {
	t   *testing.T
	key crypto.Signer // *ecdsa.PrivateKey, or another type to test rejection
	// keySpec is what GetPublicKey reports; ECC_NIST_P256 when empty.
	keySpec string
	deny    bool
	// hang makes every call wait for the client to give up.
	hang bool
	// stop releases hanging handlers when the test ends.
	stop chan struct{}

	mu      sync.Mutex
	signed  []string // KeyId of each Sign
	regions []string // SigV4 credential scope region of each request
}

func (f *fakeAWSKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
		f.t.Errorf("request without SigV4 authorization: %q", auth)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.t.Errorf("content type %q", ct)
	}
	f.mu.Lock()
	// Credential=AKID/DATE/REGION/kms/aws4_request
	if scope := strings.Split(strings.TrimPrefix(strings.Fields(auth)[1], "Credential="), "/"); len(scope) > 3 {
		f.regions = append(f.regions, scope[2])
	}
	f.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read request: %v", err)
	}
	if f.hang {
		select {
		case <-r.Context().Done():
		case <-f.stop:
		}
		return
	}
	var req struct {
		KeyID            string `json:"KeyId"`
		Message          []byte
		MessageType      string
		SigningAlgorithm string
	}
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("decode request: %v", err)
	}
	target := r.Header.Get("X-Amz-Target")
	f.mu.Lock()
	deny := f.deny
	f.mu.Unlock()
	if deny {
		action := strings.TrimPrefix(target, "TrentService.")
		f.reply(w, http.StatusBadRequest, map[string]any{
			"__type":  "AccessDeniedException",
			"message": "User: arn:aws:iam::111122223333:user/agent is not authorized to perform: kms:" + action + " on resource: " + fakeAWSARN + " because no identity-based policy allows the kms:" + action + " action",
		})
		return
	}
	if req.KeyID != fakeAWSARN && req.KeyID != fakeAWSAlias {
		f.reply(w, http.StatusBadRequest, map[string]any{"__type": "NotFoundException", "message": "Alias " + req.KeyID + " is not found."})
		return
	}
	switch target {
	case "TrentService.GetPublicKey":
		der, err := x509.MarshalPKIXPublicKey(f.key.Public())
		if err != nil {
			f.t.Fatal(err)
		}
		spec := f.keySpec
		if spec == "" {
			spec = "ECC_NIST_P256"
		}
		f.reply(w, http.StatusOK, map[string]any{
			"KeyId": fakeAWSARN, "KeySpec": spec, "KeyUsage": "SIGN_VERIFY",
			"PublicKey": der, "SigningAlgorithms": []string{"ECDSA_SHA_256"},
		})
	case "TrentService.Sign":
		if req.MessageType != "DIGEST" || req.SigningAlgorithm != "ECDSA_SHA_256" || len(req.Message) != 32 {
			f.t.Errorf("sign %s of %d bytes with %s", req.MessageType, len(req.Message), req.SigningAlgorithm)
		}
		f.mu.Lock()
		f.signed = append(f.signed, req.KeyID)
		f.mu.Unlock()
		sig, err := f.key.Sign(rand.Reader, req.Message, crypto.SHA256)
		if err != nil {
			f.t.Fatal(err)
		}
		f.reply(w, http.StatusOK, map[string]any{"KeyId": fakeAWSARN, "Signature": sig, "SigningAlgorithm": "ECDSA_SHA_256"})
	default:
		f.t.Errorf("unexpected operation %q", target)
		f.reply(w, http.StatusBadRequest, map[string]any{"__type": "UnknownOperationException"})
	}
}

// reply writes a JSON 1.1 response; []byte fields marshal as base64, as
// KMS sends blobs.
func (f *fakeAWSKMS) reply(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "req-1")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// awsOptions points the SDK at static test credentials; the URI's
// ?endpoint= points it at the fake.
func awsOptions() Options {
	return Options{AWS: &aws.Config{
		Region:      "us-east-1", // overridden by the URI's region
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}}
}

func startAWS(t *testing.T, f *fakeAWSKMS) string {
	f.t = t
	f.stop = make(chan struct{})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	// Cleanups run last first: release hanging handlers, then close.
	t.Cleanup(func() { close(f.stop) })
	return srv.URL
}

func TestAWSKMSSealsAVerifiableBundle(t *testing.T) {
	key := mustKey(t)
	for _, uri := range []string{
		"awskms:///" + fakeAWSARN,
		"awskms:///" + fakeAWSAlias + "?region=eu-west-1",
	} {
		t.Run(uri, func(t *testing.T) {
			f := &fakeAWSKMS{key: key}
			endpoint := startAWS(t, f)
			s, err := Open(context.Background(), uri+sep(uri)+"endpoint="+endpoint, awsOptions())
			if err != nil {
				t.Fatal(err)
			}
			sealAndVerify(t, s, &key.PublicKey)
			// An alias is resolved once: signatures name the key whose
			// public half the signer holds.
			if len(f.signed) != 1 || f.signed[0] != fakeAWSARN {
				t.Errorf("signed with %q, want the key ARN once", f.signed)
			}
			for _, r := range f.regions {
				if r != "eu-west-1" {
					t.Errorf("request signed for region %s, want eu-west-1", r)
				}
			}
			if got := s.(interface{ String() string }).String(); got != "awskms signer "+fakeAWSARN {
				t.Errorf("String() = %q", got)
			}
		})
	}
}

func TestAWSKMSErrors(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	uri := "awskms:///" + fakeAWSAlias + "?region=eu-west-1&endpoint="
	tests := []struct {
		name string
		fake *fakeAWSKMS
		want string
	}{
		{
			name: "RSA key",
			fake: &fakeAWSKMS{key: rsaKey, keySpec: "RSA_2048"},
			want: "AWS KMS key alias/eucs is RSA_2048, want ECC_NIST_P256 (ECDSA P-256)",
		},
		{
			name: "key spec says P-256 but the key is not",
			fake: &fakeAWSKMS{key: p384},
			want: "AWS KMS key alias/eucs is ECDSA P-384, want ECDSA P-256",
		},
		{
			name: "access denied",
			fake: &fakeAWSKMS{key: mustKey(t), deny: true},
			want: "get public key of AWS KMS key alias/eucs: operation error KMS: GetPublicKey, https response error StatusCode: 400, RequestID: req-1, api error AccessDeniedException: User: arn:aws:iam::111122223333:user/agent is not authorized to perform: kms:GetPublicKey on resource: " + fakeAWSARN + " because no identity-based policy allows the kms:GetPublicKey action (the agent's AWS identity needs kms:GetPublicKey and kms:Sign on the key)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoint := startAWS(t, tt.fake)
			_, err := Open(context.Background(), uri+endpoint, awsOptions())
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}

	t.Run("access denied when signing", func(t *testing.T) {
		f := &fakeAWSKMS{key: mustKey(t)}
		endpoint := startAWS(t, f)
		s, err := Open(context.Background(), uri+endpoint, awsOptions())
		if err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.deny = true
		f.mu.Unlock()
		_, err = s.Sign(context.Background(), []byte("pae"))
		want := "sign with AWS KMS key " + fakeAWSARN + ": operation error KMS: Sign, https response error StatusCode: 400, RequestID: req-1, api error AccessDeniedException: User: arn:aws:iam::111122223333:user/agent is not authorized to perform: kms:Sign on resource: " + fakeAWSARN + " because no identity-based policy allows the kms:Sign action (the agent's AWS identity needs kms:GetPublicKey and kms:Sign on the key)"
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		endpoint := startAWS(t, &fakeAWSKMS{key: mustKey(t), hang: true})
		opts := awsOptions()
		opts.Timeout = 100 * time.Millisecond
		_, err := Open(context.Background(), uri+endpoint, opts)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want a deadline exceeded", err)
		}
	})
}

// sep is what joins another query parameter to uri.
func sep(uri string) string {
	if strings.Contains(uri, "?") {
		return "&"
	}
	return "?"
}
