package signer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

func TestValidateAccepts(t *testing.T) {
	for _, uri := range []string{
		"/etc/eucs-agent/key.pem",
		"key.pem",
		"file:///etc/eucs-agent/key.pem",
		"awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"awskms:///arn:aws:kms:eu-west-1:111122223333:alias/eucs",
		"awskms:///arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234",
		"awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234?region=eu-west-1",
		"awskms:///alias/eucs?region=eu-central-1",
		"awskms:///alias/eucs?region=eu-central-1&endpoint=http://localhost:4566",
		"gcpkms://projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/2?endpoint=http://127.0.0.1:8080",
		"azurekms://myvault.vault.azure.net/keys/eucs",
		"azurekms://myvault.vault.azure.net/keys/eucs/0123456789abcdef0123456789abcdef",
		"azurekms://myhsm.managedhsm.azure.net/keys/eucs-signing?endpoint=https://127.0.0.1:8443",
	} {
		if err := Validate(uri); err != nil {
			t.Errorf("Validate(%q): %v", uri, err)
		}
	}
}

func TestValidateRejectsWithExactMessage(t *testing.T) {
	tests := []struct {
		name, uri, want string
	}{
		{"empty", "", `no key URI`},
		{"unknown scheme", "vault://secret/eucs", `"vault://secret/eucs": unknown scheme "vault"; use file://, awskms://, gcpkms:// or azurekms://`},
		{"file without path", "file://", `"file://": no file path`},

		{"aws two slashes", "awskms://alias/eucs", `"awskms://alias/eucs": the key follows three slashes (set an endpoint with ?endpoint=); want awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or awskms:///alias/NAME?region=REGION`},
		{"aws no key", "awskms:///", `"awskms:///": no key; want awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or awskms:///alias/NAME?region=REGION`},
		{"aws alias without region", "awskms:///alias/eucs", `"awskms:///alias/eucs": alias/eucs needs a region: add ?region=REGION (for example ?region=eu-west-1)`},
		{"aws alias without name", "awskms:///alias/?region=eu-west-1", `"awskms:///alias/?region=eu-west-1": the alias has no name; want awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or awskms:///alias/NAME?region=REGION`},
		{"aws bare key id", "awskms:///1234abcd?region=eu-west-1", `"awskms:///1234abcd?region=eu-west-1": "1234abcd" is neither a key ARN nor alias/NAME; want awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or awskms:///alias/NAME?region=REGION`},
		{"aws not a kms arn", "awskms:///arn:aws:s3:eu-west-1:111122223333:key/1", `"awskms:///arn:aws:s3:eu-west-1:111122223333:key/1": "arn:aws:s3:eu-west-1:111122223333:key/1" is not a KMS key or alias ARN; want awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or awskms:///alias/NAME?region=REGION`},
		{"aws arn without region", "awskms:///arn:aws:kms::111122223333:key/1", `"awskms:///arn:aws:kms::111122223333:key/1": "arn:aws:kms::111122223333:key/1" is not a KMS key or alias ARN; want awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or awskms:///alias/NAME?region=REGION`},
		{"aws region contradicts arn", "awskms:///arn:aws:kms:eu-west-1:111122223333:key/1?region=us-east-1", `"awskms:///arn:aws:kms:eu-west-1:111122223333:key/1?region=us-east-1": ?region=us-east-1 contradicts the ARN's region eu-west-1`},
		{"aws bad region", "awskms:///alias/eucs?region=Europe", `"awskms:///alias/eucs?region=Europe": "Europe" is not an AWS region name (like eu-west-1)`},
		{"aws misspelt parameter", "awskms:///alias/eucs?regoin=eu-west-1", `"awskms:///alias/eucs?regoin=eu-west-1": unknown parameter "regoin" (this scheme takes region, endpoint)`},
		{"aws repeated parameter", "awskms:///alias/eucs?region=eu-west-1&region=eu-west-2", `"awskms:///alias/eucs?region=eu-west-1&region=eu-west-2": parameter "region" is given 2 times`},
		{"aws empty parameter", "awskms:///alias/eucs?region=", `"awskms:///alias/eucs?region=": parameter "region" is empty`},
		{"aws malformed query", "awskms:///alias/eucs?region=%zz", `"awskms:///alias/eucs?region=%zz": malformed query: invalid URL escape "%zz"`},
		{"aws endpoint not a url", "awskms:///alias/eucs?region=eu-west-1&endpoint=localhost:4566", `"awskms:///alias/eucs?region=eu-west-1&endpoint=localhost:4566": endpoint "localhost:4566" is not an http:// or https:// URL`},
		{"aws endpoint with credentials", "awskms:///alias/eucs?region=eu-west-1&endpoint=http://u:p@localhost:4566", `"awskms:///alias/eucs?region=eu-west-1&endpoint=http://u:p@localhost:4566": endpoint must not carry credentials`},

		{"gcp three slashes", "gcpkms:///projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", `"gcpkms:///projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1": the resource name follows two slashes, not three; want gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/cryptoKeyVersions/VERSION`},
		{"gcp key without version", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", `"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k": names a key, not a key version: append /cryptoKeyVersions/VERSION`},
		{"gcp misspelt label", "gcpkms://projects/p/locations/l/keyrings/r/cryptoKeys/k/cryptoKeyVersions/1", `"gcpkms://projects/p/locations/l/keyrings/r/cryptoKeys/k/cryptoKeyVersions/1": want gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/cryptoKeyVersions/VERSION`},
		{"gcp empty id", "gcpkms://projects//locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", `"gcpkms://projects//locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1": want gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/cryptoKeyVersions/VERSION`},
		{"gcp trailing slash", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1/", `"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1/": want gcpkms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/cryptoKeyVersions/VERSION`},
		{"gcp region parameter", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1?region=eu", `"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1?region=eu": unknown parameter "region" (this scheme takes endpoint)`},

		{"azure no host", "azurekms:///keys/eucs", `"azurekms:///keys/eucs": no vault host; want azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]`},
		{"azure host with credentials", "azurekms://me@myvault.vault.azure.net/keys/eucs", `"azurekms://me@myvault.vault.azure.net/keys/eucs": "me@myvault.vault.azure.net" is not a vault host name; want azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]`},
		{"azure secrets path", "azurekms://myvault.vault.azure.net/secrets/eucs", `"azurekms://myvault.vault.azure.net/secrets/eucs": want azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]`},
		{"azure no key name", "azurekms://myvault.vault.azure.net/keys/", `"azurekms://myvault.vault.azure.net/keys/": key name "" is not a Key Vault key name (letters, digits and dashes); want azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]`},
		{"azure bad key name", "azurekms://myvault.vault.azure.net/keys/eucs_key", `"azurekms://myvault.vault.azure.net/keys/eucs_key": key name "eucs_key" is not a Key Vault key name (letters, digits and dashes); want azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]`},
		{"azure empty version", "azurekms://myvault.vault.azure.net/keys/eucs/", `"azurekms://myvault.vault.azure.net/keys/eucs/": key version "" is not a Key Vault key version; want azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]`},
		{"azure too deep", "azurekms://myvault.vault.azure.net/keys/eucs/1/2", `"azurekms://myvault.vault.azure.net/keys/eucs/1/2": want azurekms://VAULT.vault.azure.net/keys/NAME[/VERSION]`},
		{"azure plain http endpoint", "azurekms://myvault.vault.azure.net/keys/eucs?endpoint=http://127.0.0.1:8080", `"azurekms://myvault.vault.azure.net/keys/eucs?endpoint=http://127.0.0.1:8080": endpoint "http://127.0.0.1:8080" is not an https:// URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.uri)
			if err == nil {
				t.Fatalf("Validate(%q) accepted it", tt.uri)
			}
			if err.Error() != tt.want {
				t.Errorf("Validate(%q):\n got %s\nwant %s", tt.uri, err, tt.want)
			}
			// Open reports the same problem before touching any network.
			if _, err := Open(context.Background(), tt.uri, Options{}); err == nil || err.Error() != tt.want {
				t.Errorf("Open(%q) = %v, want %s", tt.uri, err, tt.want)
			}
		})
	}
}

func TestOpenFileKey(t *testing.T) {
	dir := t.TempDir()
	priv, pub, err := bundle.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := bundle.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{priv, "file://" + priv} {
		s, err := Open(context.Background(), uri, Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", uri, err)
		}
		sealAndVerify(t, s, want)
	}
	// The file signer's own errors come through unchanged.
	missing := filepath.Join(dir, "missing.pem")
	if _, err := Open(context.Background(), "file://"+missing, Options{}); err == nil || !strings.HasPrefix(err.Error(), "load signing key: open "+missing) {
		t.Errorf("missing key file: %v", err)
	}
}

func TestRawToDER(t *testing.T) {
	// hex32 left-pads a hex number to 32 bytes.
	hex32 := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return append(make([]byte, 32-len(b)), b...)
	}
	ones := strings.Repeat("11", 32)
	tests := []struct {
		name    string
		r, s    []byte
		wantHex string
	}{
		{
			name:    "no high bit, no leading zero",
			r:       hex32(ones),
			s:       hex32(ones),
			wantHex: "3044" + "0220" + ones + "0220" + ones,
		},
		{
			name:    "high bit of r set gets a 0x00 so the integer stays positive",
			r:       hex32("80" + strings.Repeat("00", 30) + "01"),
			s:       hex32(ones),
			wantHex: "3045" + "022100" + "80" + strings.Repeat("00", 30) + "01" + "0220" + ones,
		},
		{
			name:    "high bit of both set",
			r:       hex32(strings.Repeat("ff", 32)),
			s:       hex32(strings.Repeat("ff", 32)),
			wantHex: "3046" + "022100" + strings.Repeat("ff", 32) + "022100" + strings.Repeat("ff", 32),
		},
		{
			name:    "leading zero bytes of s are dropped",
			r:       hex32(ones),
			s:       hex32("7f01"),
			wantHex: "3026" + "0220" + ones + "0202" + "7f01",
		},
		{
			name:    "leading zero dropped then high bit needs one back",
			r:       hex32("0080" + strings.Repeat("ab", 30)),
			s:       hex32("01"),
			wantHex: "3025" + "0220" + "0080" + strings.Repeat("ab", 30) + "020101",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := rawToDER(append(append([]byte(nil), tt.r...), tt.s...))
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(der); got != tt.wantHex {
				t.Errorf("got  %s\nwant %s", got, tt.wantHex)
			}
		})
	}

	t.Run("real signatures verify", func(t *testing.T) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		var highBit, short int
		for i := range 200 {
			sum := sha256.Sum256([]byte{byte(i)})
			r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			raw := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
			if raw[0]&0x80 != 0 || raw[32]&0x80 != 0 {
				highBit++
			}
			if raw[0] == 0 || raw[32] == 0 {
				short++
			}
			der, err := rawToDER(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !ecdsa.VerifyASN1(&key.PublicKey, sum[:], der) {
				t.Fatalf("signature %d (%x) does not verify as %x", i, raw, der)
			}
		}
		if highBit == 0 {
			t.Error("no signature had its high bit set; the test proves less than it claims")
		}
		t.Logf("%d of 200 with a high bit set, %d with a leading zero byte", highBit, short)
	})

	for _, tt := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"DER instead of raw", make([]byte, 70), "the signature is 70 bytes, want 64 (r||s for ES256)"},
		{"empty", nil, "the signature is 0 bytes, want 64 (r||s for ES256)"},
		{"zero r", append(make([]byte, 32), bytes.Repeat([]byte{1}, 32)...), "the signature has a zero r or s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := rawToDER(tt.raw); err == nil || err.Error() != tt.want {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}

// sealAndVerify seals a small run with s, as the agent does, and checks that
// bundle.Verify accepts it with pub, the key the KMS holds.
func sealAndVerify(t *testing.T, s bundle.Signer, pub *ecdsa.PublicKey) {
	t.Helper()
	ctx := context.Background()
	w, err := bundle.NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := finding.Finding{
		Account:      "111111111111",
		Check:        "aws.s3.default_encryption",
		Detail:       "bucket encrypts new objects with SSE-KMS",
		Provider:     "aws",
		Region:       "eu-west-1",
		Requirements: []string{"CKM-03.1"},
		Resource:     "arn:aws:s3:::bucket-1",
		Service:      "s3",
		Status:       finding.Pass,
	}
	if err := w.Finding(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := w.Coverage(ctx, finding.Coverage{Account: f.Account, Provider: "aws", Region: "eu-west-1", Service: "s3", Status: finding.Assessed}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	meta := bundle.Meta{RunID: "run-1", Started: start, Finished: start.Add(time.Minute), AgentVersion: "test", Service: "Example Cloud", Level: controls.Basic}
	results := []controls.Result{{ID: "CKM-03.1", Level: controls.Basic, Status: controls.Satisfied, Checks: []string{f.Check}, Pass: 1}}
	b, err := w.Seal(ctx, meta, results, bundle.Link{Sequence: 1}, s)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	rep, err := bundle.Verify(ctx, pub, []bundle.Input{{Name: "b1.json", Data: b.Envelope}})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	want, err := bundle.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.KeyID != want || rep.Findings != 1 {
		t.Errorf("report: key %s, %d findings; want key %s, 1 finding", rep.KeyID, rep.Findings, want)
	}
}

// mustKey generates a P-256 key for a fake KMS.
func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
