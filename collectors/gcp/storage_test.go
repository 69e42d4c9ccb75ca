package gcp

import (
	"fmt"
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

const testBucket = "//storage.googleapis.com/projects/_/buckets/orders-data"

// goodBucket passes every Cloud Storage check.
func goodBucket() gcpsim.Bucket {
	return gcpsim.Bucket{Name: "orders-data", Location: "EUROPE-WEST1", UniformAccess: true, PublicAccessPrevention: "enforced",
		KMSKey: "projects/test-project-1/locations/europe-west1/keyRings/r/cryptoKeys/k", Versioning: true}
}

// withBucket gives testEstate's project the one bucket b.
func withBucket(b gcpsim.Bucket) func(*gcpsim.Estate) {
	return func(e *gcpsim.Estate) { project(e).Buckets = []gcpsim.Bucket{b} }
}

// bucketCases are the listing faults and the empty project for a bucket
// check.
func bucketCases(check string) []simCase {
	return listingFaults(check, "storage", "buckets.list", withBucket(goodBucket()), "no Cloud Storage buckets")
}

func TestBucketUniformAccess(t *testing.T) {
	fine := goodBucket()
	fine.UniformAccess = false
	runSimCases(t, append([]simCase{
		{name: "uniform bucket-level access passes", setup: withBucket(goodBucket()),
			check: checkBucketUniformAccess, resource: testBucket, status: finding.Pass, region: "europe-west1",
			observed: map[string]any{"uniform_bucket_level_access": true}},
		{name: "fine-grained access fails", setup: withBucket(fine),
			check: checkBucketUniformAccess, resource: testBucket, status: finding.Fail,
			observed: map[string]any{"uniform_bucket_level_access": false}, detail: "object ACLs"},
	}, bucketCases(checkBucketUniformAccess)...))
}

func TestBucketPublicAccessPrevention(t *testing.T) {
	inherited := goodBucket()
	inherited.PublicAccessPrevention = "inherited"
	unset := goodBucket()
	unset.PublicAccessPrevention = ""
	runSimCases(t, append([]simCase{
		{name: "enforced passes", setup: withBucket(goodBucket()),
			check: checkBucketPublicAccess, resource: testBucket, status: finding.Pass,
			observed: map[string]any{"public_access_prevention": "enforced"}},
		{name: "inherited from the organisation policy fails", setup: withBucket(inherited),
			check: checkBucketPublicAccess, resource: testBucket, status: finding.Fail,
			observed: map[string]any{"public_access_prevention": "inherited"}, detail: "not enforced on the bucket itself"},
		{name: "unset fails", setup: withBucket(unset),
			check: checkBucketPublicAccess, resource: testBucket, status: finding.Fail},
	}, bucketCases(checkBucketPublicAccess)...))
}

func TestBucketCMEK(t *testing.T) {
	google := goodBucket()
	google.KMSKey = ""
	runSimCases(t, append([]simCase{
		{name: "default customer-managed key passes", setup: withBucket(goodBucket()),
			check: checkBucketCMEK, resource: testBucket, status: finding.Pass,
			observed: map[string]any{"default_kms_key_name": goodBucket().KMSKey}},
		{name: "Google-managed encryption fails", setup: withBucket(google),
			check: checkBucketCMEK, resource: testBucket, status: finding.Fail,
			observed: map[string]any{"default_kms_key_name": ""}, detail: "Google-managed"},
	}, bucketCases(checkBucketCMEK)...))
}

func TestBucketVersioning(t *testing.T) {
	off := goodBucket()
	off.Versioning = false
	runSimCases(t, append([]simCase{
		{name: "versioning on passes", setup: withBucket(goodBucket()),
			check: checkBucketVersioning, resource: testBucket, status: finding.Pass, observed: map[string]any{"versioning_enabled": true}},
		{name: "versioning off fails", setup: withBucket(off),
			check: checkBucketVersioning, resource: testBucket, status: finding.Fail, observed: map[string]any{"versioning_enabled": false}},
	}, bucketCases(checkBucketVersioning)...))
}

func TestBucketLocation(t *testing.T) {
	at := func(location string, data ...string) func(*gcpsim.Estate) {
		b := goodBucket()
		b.Location, b.DataLocations = location, data
		return withBucket(b)
	}
	euOnly := func(c *Config) { c.AllowedRegions = []string{"europe-west1", "europe-west4", "EU"} }
	regionsOnly := func(c *Config) { c.AllowedRegions = []string{"europe-west1", "europe-west4"} }
	runSimCases(t, []simCase{
		{name: "bucket in an allowed region passes", setup: at("EUROPE-WEST1"), config: euOnly,
			check: LocationCheck, resource: testBucket, status: finding.Pass, region: "europe-west1"},
		{name: "bucket in another region fails", setup: at("US-CENTRAL1"), config: euOnly,
			check: LocationCheck, resource: testBucket, status: finding.Fail, region: "us-central1",
			observed: map[string]any{"region": "us-central1"}, detail: "outside the allowed locations"},
		{name: "multi-region named in the policy passes", setup: at("EU"), config: euOnly,
			check: LocationCheck, resource: testBucket, status: finding.Pass, region: "eu"},
		{name: "multi-region is not covered by its regions", setup: at("EU"), config: regionsOnly,
			check: LocationCheck, resource: testBucket, status: finding.Fail, region: "eu"},
		{name: "multi-region outside the policy fails", setup: at("US"), config: euOnly,
			check: LocationCheck, resource: testBucket, status: finding.Fail, region: "us"},
		{name: "configurable dual-region in allowed regions passes", setup: at("EU", "EUROPE-WEST1", "EUROPE-WEST4"), config: regionsOnly,
			check: LocationCheck, resource: testBucket, status: finding.Pass,
			observed: map[string]any{"region": "eu", "data_locations": []any{"europe-west1", "europe-west4"}}},
		{name: "configurable dual-region with one region outside fails", setup: at("EU", "EUROPE-WEST1", "EUROPE-WEST3"), config: regionsOnly,
			check: LocationCheck, resource: testBucket, status: finding.Fail, detail: "eu (europe-west1, europe-west3)"},
		{name: "bucket listing denied leaves location not assessed", setup: at("EU"), config: euOnly,
			faults: []gcpsim.Fault{{Service: "storage", Kind: gcpsim.AccessDenied}},
			check:  LocationCheck, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied},
	})
}

func TestBucketsOutsideTheCollectedRegionsAreSkipped(t *testing.T) {
	e := testEstate()
	eu, us := goodBucket(), goodBucket()
	us.Name, us.Location = "us-data", "US-CENTRAL1"
	project(e).Buckets = []gcpsim.Bucket{eu, us}
	c, _ := startSim(t, e, func(c *Config) { c.Regions = []string{"europe-west1"} })
	rec := collect(t, c)
	if n := len(rec.Of(checkBucketVersioning, "")); n != 1 {
		t.Errorf("%d versioning findings, want 1 for the bucket in europe-west1", n)
	}
	rec.One(t, checkBucketVersioning, testBucket)
}

func TestBucketsArePaged(t *testing.T) {
	e := testEstate()
	for i := range bucketPageSize + 3 {
		b := goodBucket()
		b.Name = fmt.Sprintf("bucket-%05d", i)
		b.Versioning = i%2 == 0
		project(e).Buckets = append(project(e).Buckets, b)
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if n := sim.Calls("storage", "buckets.list"); n != 2 {
		t.Errorf("buckets.list called %d times, want 2 pages", n)
	}
	fails := 0
	for _, f := range rec.Of(checkBucketVersioning, "") {
		if f.Status == finding.Fail {
			fails++
		}
	}
	if n := len(rec.Of(checkBucketVersioning, "")); n != bucketPageSize+3 {
		t.Errorf("%d versioning findings, want one per bucket (%d)", n, bucketPageSize+3)
	}
	if want := (bucketPageSize + 3) / 2; fails != want {
		t.Errorf("versioning failed on %d buckets, want %d", fails, want)
	}
}
