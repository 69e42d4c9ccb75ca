package aws

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

const testBucketARN = "arn:aws:s3:::orders-data"

// goodBucket passes every S3 check.
func goodBucket() awssim.Bucket {
	return awssim.Bucket{Encryption: "AES256", PublicAccessBlock: &[4]bool{true, true, true, true},
		HasPolicy: true, TLSOnly: true, Versioning: true}
}

// withBucket gives testEstate's account the one bucket b, called
// orders-data in eu-west-1 unless b says otherwise.
func withBucket(b awssim.Bucket) func(*awssim.Estate) {
	if b.Name == "" {
		b.Name = "orders-data"
	}
	if b.Region == "" {
		b.Region = "eu-west-1"
	}
	return func(e *awssim.Estate) { e.Accounts[0].Buckets = []awssim.Bucket{b} }
}

// bucketCallFaults are the ways one per-bucket call can fail; each leaves
// only that check on that bucket not assessed.
func bucketCallFaults(check, action string) []simCase {
	fault := func(k awssim.FaultKind) []awssim.Fault {
		return []awssim.Fault{{Service: "s3", Action: action, Kind: k, Delay: 5 * time.Second}}
	}
	return []simCase{
		{name: action + " denied is not assessed", setup: withBucket(goodBucket()), faults: fault(awssim.AccessDenied),
			check: check, resource: testBucketARN, status: finding.NotAssessed, reason: finding.AccessDenied},
		{name: action + " throttled is not assessed", setup: withBucket(goodBucket()), faults: fault(awssim.Throttle),
			check: check, resource: testBucketARN, status: finding.NotAssessed, reason: finding.Throttled},
		{name: action + " server error is not assessed", setup: withBucket(goodBucket()), faults: fault(awssim.ServerError),
			check: check, resource: testBucketARN, status: finding.NotAssessed, reason: finding.APIError},
		{name: action + " malformed answer is not assessed", setup: withBucket(goodBucket()), faults: fault(awssim.Malformed),
			check: check, resource: testBucketARN, status: finding.NotAssessed, reason: finding.APIError},
		{name: action + " slower than the call timeout is not assessed", setup: withBucket(goodBucket()), faults: fault(awssim.Slow),
			config: func(c *Config) { c.CallTimeout = 200 * time.Millisecond },
			check:  check, resource: testBucketARN, status: finding.NotAssessed, reason: finding.TimedOut},
	}
}

// bucketListingFaults are the ways ListBuckets can fail, each leaving the
// check not assessed for the whole account, and the empty account.
func bucketListingFaults(check string) []simCase {
	return []simCase{
		{name: "denied bucket listing leaves the account not assessed", setup: withBucket(goodBucket()),
			faults: []awssim.Fault{{Service: "s3", Action: "ListBuckets", Kind: awssim.AccessDenied}},
			check:  check, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied},
		{name: "throttled bucket listing leaves the account not assessed", setup: withBucket(goodBucket()),
			faults: []awssim.Fault{{Service: "s3", Action: "ListBuckets", Kind: awssim.Throttle}},
			check:  check, resource: "*", status: finding.NotAssessed, reason: finding.Throttled},
		{name: "bucket listing slower than the scope timeout is not assessed", setup: withBucket(goodBucket()),
			faults: []awssim.Fault{{Service: "s3", Action: "ListBuckets", Kind: awssim.Slow, Delay: 5 * time.Second}},
			config: func(c *Config) { c.ScopeTimeout = 300 * time.Millisecond },
			check:  check, resource: "*", status: finding.NotAssessed, reason: finding.TimedOut},
		{name: "account without buckets is not applicable",
			check: check, resource: "*", status: finding.NotApplicable, detail: "no S3 buckets"},
	}
}

func TestS3DefaultEncryption(t *testing.T) {
	kms := goodBucket()
	kms.Encryption = "aws:kms"
	none := goodBucket()
	none.Encryption = ""
	runSimCases(t, append(append([]simCase{
		{name: "SSE-S3 by default passes", setup: withBucket(goodBucket()),
			check: checkS3Encryption, resource: testBucketARN, status: finding.Pass, observed: map[string]any{"sse_algorithm": "AES256"}},
		{name: "SSE-KMS by default passes", setup: withBucket(kms),
			check: checkS3Encryption, resource: testBucketARN, status: finding.Pass, observed: map[string]any{"sse_algorithm": "aws:kms"}},
		{name: "missing encryption configuration fails", setup: withBucket(none),
			check: checkS3Encryption, resource: testBucketARN, status: finding.Fail,
			observed: map[string]any{"error_code": "ServerSideEncryptionConfigurationNotFoundError"}},
	}, bucketCallFaults(checkS3Encryption, "GetBucketEncryption")...), bucketListingFaults(checkS3Encryption)...))
}

func TestS3PublicAccessBlock(t *testing.T) {
	partial := goodBucket()
	partial.PublicAccessBlock = &[4]bool{true, true, true, false}
	none := goodBucket()
	none.PublicAccessBlock = nil
	runSimCases(t, append(append([]simCase{
		{name: "all four settings on passes", setup: withBucket(goodBucket()),
			check: checkS3PublicAccess, resource: testBucketARN, status: finding.Pass,
			observed: map[string]any{"block_public_acls": true, "ignore_public_acls": true, "block_public_policy": true, "restrict_public_buckets": true}},
		{name: "one setting off fails", setup: withBucket(partial),
			check: checkS3PublicAccess, resource: testBucketARN, status: finding.Fail,
			observed: map[string]any{"block_public_policy": true, "restrict_public_buckets": false}},
		{name: "missing public access block fails", setup: withBucket(none),
			check: checkS3PublicAccess, resource: testBucketARN, status: finding.Fail,
			observed: map[string]any{"error_code": "NoSuchPublicAccessBlockConfiguration"}},
	}, bucketCallFaults(checkS3PublicAccess, "GetPublicAccessBlock")...), bucketListingFaults(checkS3PublicAccess)...))
}

func TestS3TLSOnlyPolicy(t *testing.T) {
	// The simulator writes the deny statement tersely for even-length
	// bucket names and with lists for odd ones; both must be read.
	terse := goodBucket()
	terse.Name = "orders-data2"
	noDeny := goodBucket()
	noDeny.TLSOnly = false
	none := goodBucket()
	none.HasPolicy, none.TLSOnly = false, false
	runSimCases(t, append(append([]simCase{
		{name: "deny without TLS as lists passes", setup: withBucket(goodBucket()),
			check: checkS3TLSOnly, resource: testBucketARN, status: finding.Pass,
			observed: map[string]any{"denies_insecure_transport": true, "statement_sid": "DenyInsecureTransport"}},
		{name: "deny without TLS as single values passes", setup: withBucket(terse),
			check: checkS3TLSOnly, resource: "arn:aws:s3:::orders-data2", status: finding.Pass},
		{name: "policy without the deny fails", setup: withBucket(noDeny),
			check: checkS3TLSOnly, resource: testBucketARN, status: finding.Fail, observed: map[string]any{"denies_insecure_transport": false}},
		{name: "missing policy fails", setup: withBucket(none),
			check: checkS3TLSOnly, resource: testBucketARN, status: finding.Fail, observed: map[string]any{"error_code": "NoSuchBucketPolicy"}},
	}, bucketCallFaults(checkS3TLSOnly, "GetBucketPolicy")...), bucketListingFaults(checkS3TLSOnly)...))
}

func TestS3Versioning(t *testing.T) {
	off := goodBucket()
	off.Versioning = false
	runSimCases(t, append(append([]simCase{
		{name: "enabled versioning passes", setup: withBucket(goodBucket()),
			check: checkS3Versioning, resource: testBucketARN, status: finding.Pass, observed: map[string]any{"status": "Enabled"}},
		{name: "never enabled versioning fails", setup: withBucket(off),
			check: checkS3Versioning, resource: testBucketARN, status: finding.Fail, observed: map[string]any{"status": ""}},
		{name: "every bucket is located", setup: withBucket(goodBucket()),
			config: func(c *Config) { c.AllowedRegions = []string{"eu-west-1"} },
			check:  LocationCheck, resource: testBucketARN, status: finding.Pass},
		{name: "bucket outside the allowed regions fails location", setup: withBucket(awssim.Bucket{Region: "us-east-1"}),
			config: func(c *Config) { c.AllowedRegions = []string{"eu-west-1", "eu-central-1"} },
			check:  LocationCheck, resource: testBucketARN, status: finding.Fail, observed: map[string]any{"region": "us-east-1"}},
	}, bucketCallFaults(checkS3Versioning, "GetBucketVersioning")...), bucketListingFaults(checkS3Versioning)...))
}

func TestS3FailureStaysWithItsBucketAndCheck(t *testing.T) {
	e := testEstate()
	a, b := goodBucket(), goodBucket()
	a.Name, b.Name = "alpha-data", "bravo-data"
	e.Accounts[0].Buckets = []awssim.Bucket{a, b}
	c, sim := startSim(t, e, nil)
	sim.Inject(awssim.Fault{Service: "s3", Action: "GetBucketEncryption", Resource: "alpha-data", Kind: awssim.AccessDenied})
	rec := collect(t, c)

	want := map[string]finding.Status{
		checkS3Encryption + " alpha-data":   finding.NotAssessed,
		checkS3PublicAccess + " alpha-data": finding.Pass,
		checkS3TLSOnly + " alpha-data":      finding.Pass,
		checkS3Versioning + " alpha-data":   finding.Pass,
		checkS3Encryption + " bravo-data":   finding.Pass,
	}
	for key, status := range want {
		var check, bucket string
		fmt.Sscan(key, &check, &bucket)
		if f := rec.One(t, check, "arn:aws:s3:::"+bucket); f.Status != status {
			t.Errorf("%s on %s = %s (%s), want %s", check, bucket, f.Status, f.Detail, status)
		}
	}
	if n := len(rec.Of(checkS3Encryption, "*")); n != 0 {
		t.Errorf("one bucket's failure marked the whole account: %d findings on *", n)
	}
}

func TestS3BucketsAreAskedInTheirRegion(t *testing.T) {
	e := testEstate()
	west, central := goodBucket(), goodBucket()
	west.Name, west.Region = "west-data", "eu-west-1"
	central.Name, central.Region = "central-data", "eu-central-1"
	e.Accounts[0].Buckets = []awssim.Bucket{west, central}
	c, sim := startSim(t, e, nil)
	// Only a request signed for eu-central-1 meets this fault.
	sim.Inject(awssim.Fault{Region: "eu-central-1", Service: "s3", Action: "GetBucketVersioning", Kind: awssim.AccessDenied})
	rec := collect(t, c)

	if f := rec.One(t, checkS3Versioning, "arn:aws:s3:::central-data"); f.Status != finding.NotAssessed || f.Region != "eu-central-1" {
		t.Errorf("central-data versioning = %s in %s, want not_assessed in eu-central-1", f.Status, f.Region)
	}
	if f := rec.One(t, checkS3Versioning, "arn:aws:s3:::west-data"); f.Status != finding.Pass || f.Region != "eu-west-1" {
		t.Errorf("west-data versioning = %s in %s, want pass in eu-west-1", f.Status, f.Region)
	}
	if n := sim.Calls("s3", "GetBucketLocation"); n != 0 {
		t.Errorf("GetBucketLocation called %d times though ListBuckets gave every region", n)
	}
}

// withoutBucketRegion forwards to h but drops BucketRegion from ListBuckets
// answers, as S3-compatible stores do.
func withoutBucketRegion(h http.Handler) http.Handler {
	re := regexp.MustCompile(`<BucketRegion>[^<]*</BucketRegion>`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, r)
		for k, v := range rr.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rr.Code)
		w.Write(re.ReplaceAll(rr.Body.Bytes(), nil))
	})
}

func TestS3BucketRegionFallsBackToGetBucketLocation(t *testing.T) {
	tests := []struct {
		name       string
		fault      *awssim.Fault
		wantStatus finding.Status
		wantReason finding.Reason
	}{
		{name: "location from GetBucketLocation", wantStatus: finding.Pass},
		{name: "unknown location leaves the bucket not assessed",
			fault:      &awssim.Fault{Service: "s3", Action: "GetBucketLocation", Kind: awssim.AccessDenied},
			wantStatus: finding.NotAssessed, wantReason: finding.AccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEstate()
			b := goodBucket()
			b.Name, b.Region = "virginia-data", "us-east-1"
			e.Accounts[0].Buckets = []awssim.Bucket{b}
			c, sim := startSim(t, e, func(c *Config) { c.AllowedRegions = []string{"eu-west-1"} })
			if tt.fault != nil {
				sim.Inject(*tt.fault)
			}
			proxy := httptest.NewServer(withoutBucketRegion(sim))
			t.Cleanup(proxy.Close)
			c.base.BaseEndpoint = aws.String(proxy.URL)
			rec := collect(t, c)

			for _, check := range []string{checkS3Encryption, checkS3PublicAccess, checkS3TLSOnly, checkS3Versioning} {
				f := rec.One(t, check, "arn:aws:s3:::virginia-data")
				if f.Status != tt.wantStatus || f.Reason != tt.wantReason {
					t.Errorf("%s = %s/%q (%s), want %s/%q", check, f.Status, f.Reason, f.Detail, tt.wantStatus, tt.wantReason)
				}
			}
			if n := sim.Calls("s3", "GetBucketLocation"); n != 1 {
				t.Errorf("GetBucketLocation called %d times, want once", n)
			}
			loc := rec.Of(LocationCheck, "arn:aws:s3:::virginia-data")
			if tt.wantStatus == finding.Pass && (len(loc) != 1 || loc[0].Status != finding.Fail || loc[0].Region != "us-east-1") {
				t.Errorf("location findings = %+v, want one fail in us-east-1", loc)
			}
			if tt.wantStatus == finding.NotAssessed && len(loc) != 0 {
				t.Errorf("location findings = %+v for a bucket whose region is unknown, want none", loc)
			}
		})
	}
}

func TestS3BucketsArePaged(t *testing.T) {
	e := testEstate()
	for i := range s3PageSize + 3 {
		b := goodBucket()
		b.Name = fmt.Sprintf("bucket-%05d", i)
		b.Versioning = i%2 == 0
		e.Accounts[0].Buckets = append(e.Accounts[0].Buckets, b)
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if n := sim.Calls("s3", "ListBuckets"); n != 2 {
		t.Errorf("ListBuckets called %d times, want 2 pages", n)
	}
	for _, check := range []string{checkS3Encryption, checkS3PublicAccess, checkS3TLSOnly, checkS3Versioning} {
		if n := len(rec.Of(check, "")); n != s3PageSize+3 {
			t.Errorf("%s: %d findings, want one per bucket (%d)", check, n, s3PageSize+3)
		}
	}
	fails := 0
	for _, f := range rec.Of(checkS3Versioning, "") {
		if f.Status == finding.Fail {
			fails++
		}
	}
	if want := (s3PageSize + 3) / 2; fails != want {
		t.Errorf("versioning failed on %d buckets, want %d", fails, want)
	}
}

func TestBucketPolicyDeniesInsecureTransport(t *testing.T) {
	const deny = `"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]`
	tests := []struct {
		name    string
		policy  string
		want    bool
		wantErr bool
	}{
		{"single statement object", `{"Statement":{"Sid":"tls",` + deny + `,"Condition":{"Bool":{"aws:SecureTransport":"false"}}}}`, true, false},
		{"statement list", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},{` + deny + `,"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, true, false},
		{"principal as AWS star list", `{"Statement":[{"Effect":"Deny","Principal":{"AWS":["*"]},"Action":["s3:*"],"Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, true, false},
		{"condition value as JSON false", `{"Statement":[{` + deny + `,"Condition":{"Bool":{"aws:SecureTransport":false}}}]}`, true, false},
		{"BoolIfExists and lower-case key", `{"Statement":[{` + deny + `,"Condition":{"BoolIfExists":{"aws:securetransport":["false"]}}}]}`, true, false},
		{"action star", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, true, false},
		{"allow instead of deny", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`, false, false},
		{"deny for one principal only", `{"Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, false, false},
		{"deny of some actions only", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":["s3:GetObject"],"Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, false, false},
		{"deny on the bucket but not its objects", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`, false, false},
		{"deny of secure transport", `{"Statement":[{` + deny + `,"Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`, false, false},
		{"deny without condition is not about TLS", `{"Statement":[{` + deny + `}]}`, false, false},
		{"no statements", `{"Version":"2012-10-17"}`, false, false},
		{"not JSON", `<<{{ not a valid response`, false, true},
		{"action of the wrong type", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":42,"Resource":"*"}]}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := deniesInsecureTransport(tt.policy, "b")
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("denies insecure transport = %v, want %v", got, tt.want)
			}
		})
	}
}
