package aws

import (
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

const (
	mainTrailARN = "arn:aws:cloudtrail:eu-west-1:111111111111:trail/main"
	// coverageARN is the subject of multi_region in eu-west-1.
	coverageARN = "arn:aws:cloudtrail:eu-west-1:111111111111:trails"
)

func withTrails(ts ...awssim.Trail) func(*awssim.Estate) {
	return func(e *awssim.Estate) { mainRegion(e).Trails = ts }
}

// goodTrail is a multi-region trail that does everything right.
func goodTrail() awssim.Trail {
	return awssim.Trail{Name: "main", MultiRegion: true, Logging: true, LogFileValidate: true,
		KMSKeyID: "arn:aws:kms:eu-west-1:111111111111:key/trail"}
}

// trailListingFaults are the ways DescribeTrails can fail, each of which
// leaves every CloudTrail check of the scope not assessed.
func trailListingFaults(check string) []simCase {
	fault := func(k awssim.FaultKind) []awssim.Fault {
		return []awssim.Fault{{Service: "cloudtrail", Action: "DescribeTrails", Kind: k, Delay: 5 * time.Second}}
	}
	return []simCase{
		{
			name:     "denied trail listing leaves the scope not assessed",
			setup:    withTrails(goodTrail()),
			faults:   fault(awssim.AccessDenied),
			check:    check,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
		},
		{
			name:     "throttled trail listing leaves the scope not assessed",
			setup:    withTrails(goodTrail()),
			faults:   fault(awssim.Throttle),
			check:    check,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.Throttled,
		},
		{
			name:     "malformed trail listing leaves the scope not assessed",
			setup:    withTrails(goodTrail()),
			faults:   fault(awssim.Malformed),
			check:    check,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "trail listing slower than the call timeout is not assessed",
			setup:    withTrails(goodTrail()),
			faults:   fault(awssim.Slow),
			config:   func(c *Config) { c.CallTimeout = 200 * time.Millisecond },
			check:    check,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.TimedOut,
		},
	}
}

func TestCloudTrailMultiRegion(t *testing.T) {
	stopped := goodTrail()
	stopped.Logging = false
	regional := goodTrail()
	regional.MultiRegion = false
	runSimCases(t, append([]simCase{
		{
			name:     "logging multi-region trail passes",
			setup:    withTrails(goodTrail()),
			check:    checkTrailMultiRegion,
			resource: coverageARN,
			status:   finding.Pass,
			observed: map[string]any{"trail_arn": mainTrailARN, "is_logging": true, "is_multi_region_trail": true},
		},
		{
			name:     "no trail fails",
			check:    checkTrailMultiRegion,
			resource: coverageARN,
			status:   finding.Fail,
			observed: map[string]any{"multi_region_trails": []any{}},
		},
		{
			name:     "single-region trail fails",
			setup:    withTrails(regional),
			check:    checkTrailMultiRegion,
			resource: coverageARN,
			status:   finding.Fail,
		},
		{
			name:     "multi-region trail that stopped logging fails",
			setup:    withTrails(stopped),
			check:    checkTrailMultiRegion,
			resource: coverageARN,
			status:   finding.Fail,
			observed: map[string]any{"multi_region_trails": []any{map[string]any{"trail_arn": mainTrailARN, "is_multi_region_trail": true, "is_logging": false}}},
			detail:   "none is logging",
		},
		{
			name:     "failing trail status is not assessed",
			setup:    withTrails(goodTrail()),
			faults:   []awssim.Fault{{Service: "cloudtrail", Action: "GetTrailStatus", Kind: awssim.ServerError}},
			check:    checkTrailMultiRegion,
			resource: coverageARN,
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "an unreadable trail does not hide a logging one",
			setup:    withTrails(stopped, awssim.Trail{Name: "second", MultiRegion: true, Logging: true}),
			faults:   []awssim.Fault{{Service: "cloudtrail", Action: "GetTrailStatus", Resource: "trail/main", Kind: awssim.Throttle}},
			check:    checkTrailMultiRegion,
			resource: coverageARN,
			status:   finding.Pass,
			observed: map[string]any{"trail_arn": "arn:aws:cloudtrail:eu-west-1:111111111111:trail/second"},
		},
		{
			name:     "denied trail status is not assessed",
			setup:    withTrails(goodTrail()),
			faults:   []awssim.Fault{{Service: "cloudtrail", Action: "GetTrailStatus", Kind: awssim.AccessDenied}},
			check:    checkTrailMultiRegion,
			resource: coverageARN,
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
		},
	}, trailListingFaults(checkTrailMultiRegion)...))
}

func TestCloudTrailLogFileValidation(t *testing.T) {
	unvalidated := goodTrail()
	unvalidated.LogFileValidate = false
	runSimCases(t, append([]simCase{
		{
			name:     "trail with validation passes",
			setup:    withTrails(goodTrail()),
			check:    checkTrailLogValidation,
			resource: mainTrailARN,
			status:   finding.Pass,
			observed: map[string]any{"log_file_validation_enabled": true},
		},
		{
			name:     "trail without validation fails",
			setup:    withTrails(unvalidated),
			check:    checkTrailLogValidation,
			resource: mainTrailARN,
			status:   finding.Fail,
			observed: map[string]any{"log_file_validation_enabled": false},
		},
		{
			name:     "trails are located in their home region",
			setup:    withTrails(goodTrail()),
			config:   func(c *Config) { c.AllowedRegions = []string{"eu-central-1"} },
			check:    LocationCheck,
			resource: mainTrailARN,
			status:   finding.Fail,
			observed: map[string]any{"region": "eu-west-1"},
		},
		{
			name:     "region without trails is not applicable",
			check:    checkTrailLogValidation,
			resource: "*",
			status:   finding.NotApplicable,
		},
	}, trailListingFaults(checkTrailLogValidation)...))
}

func TestCloudTrailKMSEncryption(t *testing.T) {
	plain := goodTrail()
	plain.KMSKeyID = ""
	runSimCases(t, append([]simCase{
		{
			name:     "trail encrypted with KMS passes",
			setup:    withTrails(goodTrail()),
			check:    checkTrailKMS,
			resource: mainTrailARN,
			status:   finding.Pass,
			observed: map[string]any{"kms_key_id": "arn:aws:kms:eu-west-1:111111111111:key/trail"},
		},
		{
			name:     "trail without KMS fails",
			setup:    withTrails(plain),
			check:    checkTrailKMS,
			resource: mainTrailARN,
			status:   finding.Fail,
			observed: map[string]any{"kms_key_id": ""},
		},
	}, trailListingFaults(checkTrailKMS)...))
}

// TestCloudTrailMultiRegionTrailCoversOtherRegions sets up a multi-region
// trail homed in eu-west-1 and a region with no trail of its own: the trail
// covers both regions but has its settings judged once, at home.
func TestCloudTrailMultiRegionTrailCoversOtherRegions(t *testing.T) {
	e := testEstate()
	e.Regions = []string{"eu-central-1", "eu-west-1"}
	e.Accounts[0].Regions["eu-central-1"] = &awssim.Region{Name: "eu-central-1"}
	mainRegion(e).Trails = []awssim.Trail{goodTrail()}
	c, _ := startSim(t, e, nil)
	rec := collect(t, c)

	for _, f := range rec.Of(checkTrailMultiRegion, "") {
		if f.Status != finding.Pass || f.Resource != "arn:aws:cloudtrail:"+f.Region+":111111111111:trails" {
			t.Errorf("multi_region in %s: got %s on %s, want pass on the region's trails", f.Region, f.Status, f.Resource)
		}
	}
	if got := len(rec.Of(checkTrailMultiRegion, "")); got != 2 {
		t.Errorf("%d multi_region findings, want one per region", got)
	}
	for _, check := range []string{checkTrailLogValidation, checkTrailKMS} {
		if f := rec.One(t, check, mainTrailARN); f.Region != "eu-west-1" {
			t.Errorf("%s judged in %s, want the home region eu-west-1", check, f.Region)
		}
		if f := rec.One(t, check, "*"); f.Region != "eu-central-1" || f.Status != finding.NotApplicable {
			t.Errorf("%s in the shadow region: got %s in %s, want not_applicable in eu-central-1", check, f.Status, f.Region)
		}
	}
}

func TestCloudTrailStoppedShadowTrailFailsEveryRegion(t *testing.T) {
	e := testEstate()
	e.Regions = []string{"eu-central-1", "eu-west-1"}
	e.Accounts[0].Regions["eu-central-1"] = &awssim.Region{Name: "eu-central-1",
		Trails: []awssim.Trail{{Name: "local", Logging: true}}}
	stopped := goodTrail()
	stopped.Logging = false
	mainRegion(e).Trails = []awssim.Trail{stopped}
	c, _ := startSim(t, e, nil)
	rec := collect(t, c)
	fs := rec.Of(checkTrailMultiRegion, "")
	if len(fs) != 2 {
		t.Fatalf("%d multi_region findings, want 2", len(fs))
	}
	for _, f := range fs {
		if f.Status != finding.Fail {
			t.Errorf("multi_region in %s: got %s, want fail (a logging single-region trail is not enough)", f.Region, f.Status)
		}
	}
}
