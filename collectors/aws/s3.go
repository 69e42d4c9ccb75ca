package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// S3 check IDs.
const (
	checkS3Encryption   = "aws.s3.default_encryption"
	checkS3PublicAccess = "aws.s3.public_access_block"
	checkS3TLSOnly      = "aws.s3.tls_only_policy"
	checkS3Versioning   = "aws.s3.versioning"
)

// s3Checks are the checks every bucket gets.
func s3Checks() []string {
	return []string{checkS3Encryption, checkS3PublicAccess, checkS3TLSOnly, checkS3Versioning}
}

// s3PageSize is how many buckets one ListBuckets page asks for.
const s3PageSize = 1000

// s3BucketWorkers bounds the buckets checked at once within one account.
// Each bucket costs four or five sequential calls, each a network round
// trip, so an account with thousands of buckets would not finish within the
// scope timeout one bucket at a time. S3's request limits are kept by the
// rate limiter; this bound only caps the requests one scope has in flight
// (16 buckets at 20 ms a call is 800 calls a second).
const s3BucketWorkers = 16

// s3API names the S3 calls the checks make.
type s3API interface {
	s3.ListBucketsAPIClient
	GetBucketLocation(ctx context.Context, in *s3.GetBucketLocationInput, optFns ...func(*s3.Options)) (*s3.GetBucketLocationOutput, error)
	GetBucketEncryption(ctx context.Context, in *s3.GetBucketEncryptionInput, optFns ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	GetPublicAccessBlock(ctx context.Context, in *s3.GetPublicAccessBlockInput, optFns ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	GetBucketPolicy(ctx context.Context, in *s3.GetBucketPolicyInput, optFns ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
	GetBucketVersioning(ctx context.Context, in *s3.GetBucketVersioningInput, optFns ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
}

// s3Scanner checks every bucket of the account: default encryption, the
// bucket's public access block, a policy that refuses plain HTTP, and
// versioning. S3 lists buckets globally, so it runs once per account.
func s3Scanner() scanner {
	return scanner{
		service: "s3",
		global:  true,
		checks:  s3Checks(),
		scan:    scanS3,
	}
}

// s3Clients hands out one client per region: S3 answers a bucket's
// configuration in the bucket's own region.
type s3Clients struct {
	s  *scope
	mu sync.Mutex
	by map[string]s3API
}

func (c *s3Clients) get(region string) s3API {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.by[region]; ok {
		return cl
	}
	cfg := c.s.cfg.Copy()
	cfg.Region = region
	cl := newS3Client(c.s, cfg)
	c.by[region] = cl
	return cl
}

func newS3Client(s *scope, cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = s.c.cfg.S3PathStyle })
}

func scanS3(ctx context.Context, s *scope) error {
	home := newS3Client(s, s.cfg)
	clients := &s3Clients{s: s, by: map[string]s3API{s.cfg.Region: home}}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s3BucketWorkers)
	n := 0
	p := s3.NewListBucketsPaginator(home, &s3.ListBucketsInput{}, func(o *s3.ListBucketsPaginatorOptions) { o.Limit = s3PageSize })
	var listErr error
	for p.HasMorePages() {
		out, err := p.NextPage(gctx)
		if err != nil {
			listErr = fmt.Errorf("list buckets in %s: %w", s.account, err)
			break
		}
		for _, b := range out.Buckets {
			n++
			g.Go(func() error { return checkBucket(gctx, s, home, clients, b) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if listErr != nil {
		return listErr
	}
	if n == 0 {
		for _, check := range s3Checks() {
			if err := s.notApplicable(ctx, check, "*", "", "the account has no S3 buckets"); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkBucket runs every S3 check on one bucket. It returns an error only
// when the sink fails; an API failure leaves just the affected check (or,
// when the bucket's region is unknown, the bucket) not assessed.
func checkBucket(ctx context.Context, s *scope, home s3API, clients *s3Clients, b types.Bucket) error {
	name := aws.ToString(b.Name)
	arn := "arn:aws:s3:::" + name
	region := aws.ToString(b.BucketRegion)
	if region == "" {
		// S3-compatible stores and older APIs leave BucketRegion out.
		out, err := home.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(name)})
		if err != nil {
			err = fmt.Errorf("get location of bucket %s: %w", name, err)
			for _, check := range s3Checks() {
				if err := s.notAssessed(ctx, check, arn, "", err); err != nil {
					return err
				}
			}
			return nil
		}
		region = bucketRegion(out.LocationConstraint)
	}
	if err := s.located(ctx, arn, region); err != nil {
		return err
	}
	c := clients.get(region)
	for _, check := range []func(context.Context, *scope, s3API, string, string, string) error{
		checkBucketEncryption, checkBucketPublicAccess, checkBucketTLSOnly, checkBucketVersioning,
	} {
		if err := check(ctx, s, c, name, arn, region); err != nil {
			return err
		}
	}
	return nil
}

// bucketRegion reads GetBucketLocation's answer: none means us-east-1 and
// the legacy EU means eu-west-1.
func bucketRegion(c types.BucketLocationConstraint) string {
	switch c {
	case "":
		return "us-east-1"
	case types.BucketLocationConstraintEu:
		return "eu-west-1"
	}
	return string(c)
}

func checkBucketEncryption(ctx context.Context, s *scope, c s3API, name, arn, region string) error {
	out, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String(name)})
	const missing = "ServerSideEncryptionConfigurationNotFoundError"
	switch {
	case isCode(err, missing):
		return s.verdict(ctx, checkS3Encryption, arn, region, false, "bucket has no default encryption configuration",
			map[string]any{"error_code": missing})
	case err != nil:
		return s.notAssessed(ctx, checkS3Encryption, arn, region, fmt.Errorf("get encryption of bucket %s: %w", name, err))
	}
	if out.ServerSideEncryptionConfiguration != nil {
		for _, r := range out.ServerSideEncryptionConfiguration.Rules {
			if d := r.ApplyServerSideEncryptionByDefault; d != nil && d.SSEAlgorithm != "" {
				return s.verdict(ctx, checkS3Encryption, arn, region, true, "new objects are encrypted by default",
					map[string]any{"sse_algorithm": string(d.SSEAlgorithm)})
			}
		}
	}
	return s.verdict(ctx, checkS3Encryption, arn, region, false, "encryption configuration has no default encryption rule",
		map[string]any{"sse_algorithm": ""})
}

func checkBucketPublicAccess(ctx context.Context, s *scope, c s3API, name, arn, region string) error {
	out, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(name)})
	const missing = "NoSuchPublicAccessBlockConfiguration"
	switch {
	case isCode(err, missing):
		return s.verdict(ctx, checkS3PublicAccess, arn, region, false, "bucket has no public access block",
			map[string]any{"error_code": missing})
	case err != nil:
		return s.notAssessed(ctx, checkS3PublicAccess, arn, region, fmt.Errorf("get public access block of bucket %s: %w", name, err))
	}
	var f types.PublicAccessBlockConfiguration
	if out.PublicAccessBlockConfiguration != nil {
		f = *out.PublicAccessBlockConfiguration
	}
	observed := map[string]any{
		"block_public_acls":       aws.ToBool(f.BlockPublicAcls),
		"ignore_public_acls":      aws.ToBool(f.IgnorePublicAcls),
		"block_public_policy":     aws.ToBool(f.BlockPublicPolicy),
		"restrict_public_buckets": aws.ToBool(f.RestrictPublicBuckets),
	}
	ok := aws.ToBool(f.BlockPublicAcls) && aws.ToBool(f.IgnorePublicAcls) && aws.ToBool(f.BlockPublicPolicy) && aws.ToBool(f.RestrictPublicBuckets)
	detail := "all four public access block settings are on"
	if !ok {
		detail = "some public access block settings are off"
	}
	return s.verdict(ctx, checkS3PublicAccess, arn, region, ok, detail, observed)
}

func checkBucketTLSOnly(ctx context.Context, s *scope, c s3API, name, arn, region string) error {
	out, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(name)})
	const missing = "NoSuchBucketPolicy"
	switch {
	case isCode(err, missing):
		return s.verdict(ctx, checkS3TLSOnly, arn, region, false, "bucket has no policy, so plain HTTP requests are not refused",
			map[string]any{"error_code": missing})
	case err != nil:
		return s.notAssessed(ctx, checkS3TLSOnly, arn, region, fmt.Errorf("get policy of bucket %s: %w", name, err))
	}
	sid, ok, err := deniesInsecureTransport(aws.ToString(out.Policy), name)
	if err != nil {
		return s.notAssessed(ctx, checkS3TLSOnly, arn, region, fmt.Errorf("read policy of bucket %s: %w", name, err))
	}
	if !ok {
		return s.verdict(ctx, checkS3TLSOnly, arn, region, false, "bucket policy does not deny requests without TLS",
			map[string]any{"denies_insecure_transport": false})
	}
	return s.verdict(ctx, checkS3TLSOnly, arn, region, true, "bucket policy denies every request without TLS",
		map[string]any{"denies_insecure_transport": true, "statement_sid": sid})
}

func checkBucketVersioning(ctx context.Context, s *scope, c s3API, name, arn, region string) error {
	out, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(name)})
	if err != nil {
		return s.notAssessed(ctx, checkS3Versioning, arn, region, fmt.Errorf("get versioning of bucket %s: %w", name, err))
	}
	ok := out.Status == types.BucketVersioningStatusEnabled
	detail := "versioning is enabled"
	switch {
	case out.Status == types.BucketVersioningStatusSuspended:
		detail = "versioning is suspended"
	case !ok:
		detail = "versioning has never been enabled"
	}
	return s.verdict(ctx, checkS3Versioning, arn, region, ok, detail, map[string]any{"status": string(out.Status)})
}

// bucketPolicyDoc is the part of an IAM policy document the TLS check reads.
// Statement, Principal, Action and Resource may each be a single value or
// a list, so they stay raw until looked at.
type bucketPolicyDoc struct {
	Statement json.RawMessage
}

type bucketPolicyStatement struct {
	Sid       string
	Effect    string
	Principal json.RawMessage
	Action    json.RawMessage
	Resource  json.RawMessage
	Condition map[string]map[string]json.RawMessage
}

// deniesInsecureTransport reports whether policy has a statement that
// denies every S3 action on the bucket's objects to every principal when
// aws:SecureTransport is false, and that statement's Sid.
func deniesInsecureTransport(policy, bucket string) (string, bool, error) {
	var doc bucketPolicyDoc
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return "", false, fmt.Errorf("parse policy document: %w", err)
	}
	var stmts []bucketPolicyStatement
	if trimmed := strings.TrimSpace(string(doc.Statement)); strings.HasPrefix(trimmed, "{") {
		var one bucketPolicyStatement
		if err := json.Unmarshal(doc.Statement, &one); err != nil {
			return "", false, fmt.Errorf("parse policy statement: %w", err)
		}
		stmts = append(stmts, one)
	} else if len(trimmed) > 0 && trimmed != "null" {
		if err := json.Unmarshal(doc.Statement, &stmts); err != nil {
			return "", false, fmt.Errorf("parse policy statements: %w", err)
		}
	}
	for _, st := range stmts {
		if st.Effect != "Deny" || !policyAllPrincipals(st.Principal) {
			continue
		}
		actions, err := policyStrings(st.Action)
		if err != nil {
			return "", false, fmt.Errorf("parse action of statement %q: %w", st.Sid, err)
		}
		resources, err := policyStrings(st.Resource)
		if err != nil {
			return "", false, fmt.Errorf("parse resource of statement %q: %w", st.Sid, err)
		}
		if !policyContains(actions, "*", "s3:*") || !policyCoversObjects(resources, bucket) {
			continue
		}
		insecure, err := policyOnInsecureTransport(st.Condition)
		if err != nil {
			return "", false, fmt.Errorf("parse condition of statement %q: %w", st.Sid, err)
		}
		if insecure {
			return st.Sid, true, nil
		}
	}
	return "", false, nil
}

// policyAllPrincipals reports whether a Principal is everyone: "*" or {"AWS": "*"}.
func policyAllPrincipals(raw json.RawMessage) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var byType map[string]json.RawMessage
	if json.Unmarshal(raw, &byType) != nil {
		return false
	}
	ids, err := policyStrings(byType["AWS"])
	return err == nil && policyContains(ids, "*")
}

// policyCoversObjects reports whether resources include every object of bucket.
func policyCoversObjects(resources []string, bucket string) bool {
	arn := "arn:aws:s3:::" + bucket
	return policyContains(resources, "*", "arn:aws:s3:::*", arn+"/*", arn+"*")
}

// policyOnInsecureTransport reports whether a condition block applies
// exactly when the request did not use TLS. Condition keys are case
// insensitive; the operator is not.
func policyOnInsecureTransport(cond map[string]map[string]json.RawMessage) (bool, error) {
	for op, keys := range cond {
		if op != "Bool" && op != "BoolIfExists" {
			continue
		}
		for key, raw := range keys {
			if !strings.EqualFold(key, "aws:SecureTransport") {
				continue
			}
			var b bool
			if json.Unmarshal(raw, &b) == nil {
				return !b, nil
			}
			vals, err := policyStrings(raw)
			if err != nil {
				return false, err
			}
			return len(vals) == 1 && strings.EqualFold(vals[0], "false"), nil
		}
	}
	return false, nil
}

// policyStrings decodes a policy element that is a string or a list of
// strings; absent is empty.
func policyStrings(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New("want a string or a list of strings")
	}
	return many, nil
}

func policyContains(have []string, want ...string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}
