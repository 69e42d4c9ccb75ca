package awssim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

// simSDKConfig is an SDK configuration that talks to url as account in
// region, without retries so that every error surfaces.
func simSDKConfig(url, account, region string) aws.Config {
	return aws.Config{
		Region:           region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(AccessKeyFor(account), "sim-secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       bufferedBodyClient{},
	}
}

// bufferedBodyClient sends request bodies from memory. smithy-go closes a
// request body once the response headers are in, and its closed body fails
// the surplus read net/http makes after writing a body it could not size up
// front; on loopback the response can beat that read, and the transport
// then drops the connection under a response still being read. The SDK
// would retry; with retries off, an in-memory body avoids the race.
type bufferedBodyClient struct{}

func (bufferedBodyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return http.DefaultClient.Do(r)
}

// newS3Client serves e and returns a path-style S3 client for its first
// account in region.
func newS3Client(t *testing.T, e *Estate, region string) (*s3.Client, *Server) {
	t.Helper()
	sim := NewServer(e)
	ts := sim.Start()
	t.Cleanup(ts.Close)
	return s3.NewFromConfig(simSDKConfig(ts.URL, e.Accounts[0].ID, region), func(o *s3.Options) { o.UsePathStyle = true }), sim
}

func oneAccount(buckets ...Bucket) *Estate {
	return &Estate{Regions: []string{"eu-west-1"}, Accounts: []*Account{{ID: "111111111111", Buckets: buckets}}}
}

// errorCode is the service error code of err, or "" when it has none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestS3ListBucketsPagesInNameOrder(t *testing.T) {
	e := oneAccount(
		Bucket{Name: "delta", Region: "eu-west-1"},
		Bucket{Name: "alpha", Region: "us-east-1"},
		Bucket{Name: "echo", Region: "eu-central-1"},
		Bucket{Name: "charlie", Region: "eu-west-1"},
		Bucket{Name: "bravo", Region: "eu-west-1"},
	)
	c, sim := newS3Client(t, e, "us-east-1")
	p := s3.NewListBucketsPaginator(c, &s3.ListBucketsInput{}, func(o *s3.ListBucketsPaginatorOptions) { o.Limit = 2 })
	var got []string
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListBuckets: %v", err)
		}
		if len(out.Buckets) > 2 {
			t.Errorf("page of %d buckets, asked for at most 2", len(out.Buckets))
		}
		for _, b := range out.Buckets {
			got = append(got, aws.ToString(b.Name)+"@"+aws.ToString(b.BucketRegion))
		}
	}
	want := []string{"alpha@us-east-1", "bravo@eu-west-1", "charlie@eu-west-1", "delta@eu-west-1", "echo@eu-central-1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buckets (-want +got):\n%s", diff)
	}
	if n := sim.Calls("s3", "ListBuckets"); n != 3 {
		t.Errorf("ListBuckets calls = %d, want 3 pages", n)
	}
}

func TestS3ListBucketsWithoutMaxReturnsAll(t *testing.T) {
	var bs []Bucket
	for i := range 120 {
		bs = append(bs, Bucket{Name: "b" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Region: "eu-west-1"})
	}
	c, _ := newS3Client(t, oneAccount(bs...), "us-east-1")
	out, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	if len(out.Buckets) != 120 || out.ContinuationToken != nil {
		t.Errorf("got %d buckets and token %v, want all 120 and no token", len(out.Buckets), out.ContinuationToken)
	}
}

func TestS3ListBucketsRejectsBadArguments(t *testing.T) {
	c, _ := newS3Client(t, oneAccount(Bucket{Name: "a", Region: "eu-west-1"}), "us-east-1")
	for name, in := range map[string]*s3.ListBucketsInput{
		"zero max-buckets":    {MaxBuckets: aws.Int32(0)},
		"too many":            {MaxBuckets: aws.Int32(10001)},
		"foreign token shape": {ContinuationToken: aws.String("!!not-base64!!")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.ListBuckets(context.Background(), in)
			if code := errorCode(err); code != "InvalidArgument" {
				t.Errorf("error code = %q (%v), want InvalidArgument", code, err)
			}
		})
	}
}

func TestS3BucketConfigurationRoundTrips(t *testing.T) {
	all := &[4]bool{true, true, true, true}
	e := oneAccount(
		Bucket{Name: "locked-down", Region: "eu-west-1", Encryption: "aws:kms", PublicAccessBlock: all, HasPolicy: true, TLSOnly: true, Versioning: true},
		Bucket{Name: "wide-open", Region: "us-east-1"},
		Bucket{Name: "partial", Region: "eu-central-1", Encryption: "AES256", PublicAccessBlock: &[4]bool{true, false, true, false}, HasPolicy: true},
	)
	c, _ := newS3Client(t, e, "eu-west-1")
	ctx := context.Background()

	type view struct {
		Location, SSE, PABCode, PolicyCode, Versioning string
		PAB                                            [4]bool
		TLSDeny                                        bool
	}
	get := func(name string) view {
		var v view
		b := aws.String(name)
		loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b})
		if err != nil {
			t.Fatalf("GetBucketLocation %s: %v", name, err)
		}
		v.Location = string(loc.LocationConstraint)
		if enc, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b}); err != nil {
			v.SSE = errorCode(err)
		} else {
			v.SSE = string(enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm)
		}
		if pab, err := c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b}); err != nil {
			v.PABCode = errorCode(err)
		} else {
			f := pab.PublicAccessBlockConfiguration
			v.PAB = [4]bool{aws.ToBool(f.BlockPublicAcls), aws.ToBool(f.IgnorePublicAcls), aws.ToBool(f.BlockPublicPolicy), aws.ToBool(f.RestrictPublicBuckets)}
		}
		if pol, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b}); err != nil {
			v.PolicyCode = errorCode(err)
		} else {
			var doc map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &doc); err != nil {
				t.Fatalf("policy of %s is not JSON: %v", name, err)
			}
			v.TLSDeny = strings.Contains(aws.ToString(pol.Policy), `"aws:SecureTransport":"false"`)
		}
		ver, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
		if err != nil {
			t.Fatalf("GetBucketVersioning %s: %v", name, err)
		}
		v.Versioning = string(ver.Status)
		return v
	}

	tests := []struct {
		bucket string
		want   view
	}{
		{"locked-down", view{Location: "eu-west-1", SSE: "aws:kms", PAB: *all, TLSDeny: true, Versioning: "Enabled"}},
		{"wide-open", view{Location: "", SSE: "ServerSideEncryptionConfigurationNotFoundError",
			PABCode: "NoSuchPublicAccessBlockConfiguration", PolicyCode: "NoSuchBucketPolicy"}},
		{"partial", view{Location: "eu-central-1", SSE: "AES256", PAB: [4]bool{true, false, true, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.bucket, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, get(tt.bucket)); diff != "" {
				t.Errorf("configuration (-want +got):\n%s", diff)
			}
		})
	}
}

func TestS3UnknownBucketIsNoSuchBucket(t *testing.T) {
	c, _ := newS3Client(t, oneAccount(Bucket{Name: "mine", Region: "eu-west-1"}), "eu-west-1")
	_, err := c.GetBucketVersioning(context.Background(), &s3.GetBucketVersioningInput{Bucket: aws.String("someone-elses")})
	if code := errorCode(err); code != "NoSuchBucket" {
		t.Errorf("error code = %q (%v), want NoSuchBucket", code, err)
	}
}

func TestS3PolicyShapesAreValidJSON(t *testing.T) {
	// Even and odd name lengths select the terse and the verbose shape.
	for _, name := range []string{"ab", "abc"} {
		for _, tls := range []bool{false, true} {
			raw := s3Policy("111111111111", &Bucket{Name: name, HasPolicy: true, TLSOnly: tls})
			var doc struct {
				Statement json.RawMessage
			}
			if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Statement) == 0 {
				t.Errorf("policy for %q (tls %v) = %s: %v", name, tls, raw, err)
			}
			if got := strings.Contains(string(raw), "aws:SecureTransport"); got != tls {
				t.Errorf("policy for %q mentions aws:SecureTransport = %v, want %v", name, got, tls)
			}
		}
	}
}

func TestRestActionNamesOperations(t *testing.T) {
	tests := []struct {
		service, method, target, want string
	}{
		{"s3", "GET", "/?x-id=ListBuckets&max-buckets=5", "ListBuckets"},
		{"s3", "GET", "/", "ListBuckets"},
		{"s3", "GET", "/bucket?encryption", "GetBucketEncryption"},
		{"s3", "GET", "/bucket?publicAccessBlock=", "GetPublicAccessBlock"},
		{"s3", "GET", "/bucket?policy", "GetBucketPolicy"},
		{"s3", "GET", "/bucket?versioning", "GetBucketVersioning"},
		{"s3", "GET", "/bucket?location", "GetBucketLocation"},
		{"s3", "GET", "/bucket?list-type=2", "ListObjectsV2"},
		{"s3", "GET", "/bucket/key?x-id=GetObject", "GetObject"},
		{"s3", "PUT", "/bucket?versioning", "PUT /bucket"},
		{"guardduty", "GET", "/detector", "ListDetectors"},
		{"guardduty", "GET", "/detector?maxResults=50", "ListDetectors"},
		{"guardduty", "GET", "/detector/12abc34d567e8fa901bc2d34e56789f0", "GetDetector"},
		{"guardduty", "POST", "/detector", "POST /detector"},
	}
	for _, tt := range tests {
		t.Run(tt.service+" "+tt.method+" "+tt.target, func(t *testing.T) {
			if got := restAction(tt.service, httptest.NewRequest(tt.method, tt.target, nil)); got != tt.want {
				t.Errorf("restAction = %q, want %q", got, tt.want)
			}
		})
	}
}
