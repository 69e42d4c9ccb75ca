package signer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/eucs-agent/eucs-agent/internal/bundle"
)

// awsKey is a parsed awskms:// URI.
type awsKey struct {
	// id is a key or alias ARN, or alias/NAME.
	id       string
	region   string
	endpoint string
}

// awsFormat is how the error for an unusable awskms URI says what is wanted.
const awsFormat = "want awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or awskms:///alias/NAME?region=REGION"

// parseAWS reads awskms:///KEY[?region=R][&endpoint=URL]. The region is
// required for an alias (an ARN carries its own) rather than taken from the
// environment: which key signs the evidence must not depend on AWS_REGION.
func parseAWS(rest string) (key, error) {
	path, q, err := splitQuery(rest, "region", "endpoint")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("the key follows three slashes (set an endpoint with ?endpoint=); %s", awsFormat)
	}
	k := &awsKey{id: path[1:], region: q.Get("region"), endpoint: q.Get("endpoint")}
	switch {
	case k.id == "":
		return nil, fmt.Errorf("no key; %s", awsFormat)
	case strings.HasPrefix(k.id, "arn:"):
		// arn:PARTITION:kms:REGION:ACCOUNT:key/ID (or alias/NAME).
		f := strings.SplitN(k.id, ":", 6)
		if len(f) != 6 || f[1] == "" || f[2] != "kms" || f[3] == "" || f[4] == "" || !awsResource(f[5]) {
			return nil, fmt.Errorf("%q is not a KMS key or alias ARN; %s", k.id, awsFormat)
		}
		if k.region != "" && k.region != f[3] {
			return nil, fmt.Errorf("?region=%s contradicts the ARN's region %s", k.region, f[3])
		}
		k.region = f[3]
	case strings.HasPrefix(k.id, "alias/"):
		if !awsResource(k.id) {
			return nil, fmt.Errorf("the alias has no name; %s", awsFormat)
		}
		if k.region == "" {
			return nil, fmt.Errorf("%s needs a region: add ?region=REGION (for example ?region=eu-west-1)", k.id)
		}
	default:
		return nil, fmt.Errorf("%q is neither a key ARN nor alias/NAME; %s", k.id, awsFormat)
	}
	if !awsRegion(k.region) {
		return nil, fmt.Errorf("%q is not an AWS region name (like eu-west-1)", k.region)
	}
	if err := checkEndpoint(k.endpoint, false); err != nil {
		return nil, err
	}
	return k, nil
}

// awsResource reports whether r is key/ID or alias/NAME with a non-empty ID
// or name.
func awsResource(r string) bool {
	typ, name, ok := strings.Cut(r, "/")
	return ok && name != "" && (typ == "key" || typ == "alias")
}

// awsRegion is a cheap shape check (lowercase letters, digits and dashes,
// ending in a digit); whether the region exists is for AWS to say.
func awsRegion(r string) bool {
	if r == "" || r[len(r)-1] < '0' || r[len(r)-1] > '9' || !strings.Contains(r, "-") {
		return false
	}
	for _, c := range r {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// awsAPI is the part of the KMS client the signer uses.
type awsAPI interface {
	Sign(ctx context.Context, in *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// awsSigner signs with an asymmetric AWS KMS key.
type awsSigner struct {
	remoteKey
	api awsAPI
	// arn is the key's ARN as GetPublicKey reported it. Signing with it
	// rather than with an alias pins the key whose public half we hold: an
	// alias moved to another key mid-run would otherwise produce
	// signatures that do not match Public.
	arn     string
	timeout time.Duration
}

func (k *awsKey) open(ctx context.Context, opts Options) (bundle.Signer, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout())
	defer cancel()
	var base aws.Config
	if opts.AWS != nil {
		base = opts.AWS.Copy()
	} else {
		var err error
		if base, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(k.region)); err != nil {
			return nil, fmt.Errorf("open AWS KMS key %s: load AWS configuration: %w", k.id, err)
		}
	}
	client := kms.NewFromConfig(base, func(o *kms.Options) {
		o.Region = k.region
		if k.endpoint != "" {
			o.BaseEndpoint = aws.String(k.endpoint)
		}
	})
	out, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(k.id)})
	if err != nil {
		return nil, fmt.Errorf("get public key of AWS KMS key %s: %w", k.id, awsError(err))
	}
	if out.KeySpec != types.KeySpecEccNistP256 {
		return nil, fmt.Errorf("AWS KMS key %s is %s, want ECC_NIST_P256 (ECDSA P-256)", k.id, out.KeySpec)
	}
	if out.KeyUsage != types.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("AWS KMS key %s has key usage %s, want SIGN_VERIFY", k.id, out.KeyUsage)
	}
	pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		// The asn1 detail helps nobody; the key is what AWS sent.
		return nil, fmt.Errorf("AWS KMS key %s: the public key AWS returned is not a valid PKIX key", k.id)
	}
	rk, err := newRemoteKey("AWS KMS key "+k.id, pub)
	if err != nil {
		return nil, err
	}
	arn := aws.ToString(out.KeyId)
	if arn == "" {
		arn = k.id
	}
	return &awsSigner{remoteKey: rk, api: client, arn: arn, timeout: opts.timeout()}, nil
}

// Sign sends SHA-256(data) to KMS as a digest and returns KMS's signature,
// which is already ASN.1 DER.
func (s *awsSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.api.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(s.arn),
		Message:          sum[:],
		MessageType:      types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return nil, fmt.Errorf("sign with AWS KMS key %s: %w", s.arn, awsError(err))
	}
	return out.Signature, nil
}

// String names the signer in logs.
func (s *awsSigner) String() string { return "awskms signer " + s.arn }

// awsError adds what to do about the error a misconfigured key policy gives.
func awsError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException" {
		return fmt.Errorf("%w (the agent's AWS identity needs kms:GetPublicKey and kms:Sign on the key)", err)
	}
	return err
}
