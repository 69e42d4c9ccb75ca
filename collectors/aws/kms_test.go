package aws

import (
	"fmt"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

const testKeyARN = "arn:aws:kms:eu-west-1:111111111111:key/k1"

func withKey(k awssim.KMSKey) func(*awssim.Estate) {
	k.ID = "k1"
	return func(e *awssim.Estate) { mainRegion(e).KMSKeys = []awssim.KMSKey{k} }
}

func TestKMSKeyRotation(t *testing.T) {
	customer := awssim.KMSKey{CustomerManaged: true, Symmetric: true, Enabled: true}
	rotating := customer
	rotating.Rotation = true
	disabled := customer
	disabled.Enabled = false
	asymmetric := customer
	asymmetric.Symmetric = false
	runSimCases(t, []simCase{
		{
			name:     "customer key with rotation passes",
			setup:    withKey(rotating),
			check:    checkKeyRotation,
			resource: testKeyARN,
			status:   finding.Pass,
			observed: map[string]any{"key_rotation_enabled": true, "key_manager": "CUSTOMER", "rotation_period_in_days": 365},
		},
		{
			name:     "customer key without rotation fails",
			setup:    withKey(customer),
			check:    checkKeyRotation,
			resource: testKeyARN,
			status:   finding.Fail,
			observed: map[string]any{"key_rotation_enabled": false, "key_spec": "SYMMETRIC_DEFAULT", "key_state": "Enabled"},
		},
		{
			name:     "AWS managed key is not applicable",
			setup:    withKey(awssim.KMSKey{Symmetric: true, Enabled: true}),
			check:    checkKeyRotation,
			resource: testKeyARN,
			status:   finding.NotApplicable,
			observed: map[string]any{"key_manager": "AWS"},
			detail:   "AWS managed key",
		},
		{
			name:     "asymmetric key is not applicable",
			setup:    withKey(asymmetric),
			check:    checkKeyRotation,
			resource: testKeyARN,
			status:   finding.NotApplicable,
			observed: map[string]any{"key_spec": "RSA_2048"},
			detail:   "asymmetric",
		},
		{
			name:     "disabled key is not applicable",
			setup:    withKey(disabled),
			check:    checkKeyRotation,
			resource: testKeyARN,
			status:   finding.NotApplicable,
			observed: map[string]any{"key_state": "Disabled"},
		},
		{
			name:     "region without keys is not applicable",
			check:    checkKeyRotation,
			resource: "*",
			status:   finding.NotApplicable,
			detail:   "no KMS keys",
		},
		{
			name:     "denied describe leaves the key not assessed",
			setup:    withKey(rotating),
			faults:   []awssim.Fault{{Service: "kms", Action: "DescribeKey", Resource: "k1", Kind: awssim.AccessDenied}},
			check:    checkKeyRotation,
			resource: testKeyARN,
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
			detail:   "describe KMS key k1",
		},
		{
			name:     "throttled rotation status leaves the key not assessed",
			setup:    withKey(rotating),
			faults:   []awssim.Fault{{Service: "kms", Action: "GetKeyRotationStatus", Kind: awssim.Throttle}},
			check:    checkKeyRotation,
			resource: testKeyARN,
			status:   finding.NotAssessed,
			reason:   finding.Throttled,
		},
		{
			name:     "malformed rotation status leaves the key not assessed",
			setup:    withKey(rotating),
			faults:   []awssim.Fault{{Service: "kms", Action: "GetKeyRotationStatus", Kind: awssim.Malformed}},
			check:    checkKeyRotation,
			resource: testKeyARN,
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "failing key listing leaves the scope not assessed",
			setup:    withKey(rotating),
			faults:   []awssim.Fault{{Service: "kms", Action: "ListKeys", Kind: awssim.ServerError}},
			check:    checkKeyRotation,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "key listing slower than the scope timeout is not assessed",
			setup:    withKey(rotating),
			faults:   []awssim.Fault{{Service: "kms", Action: "ListKeys", Kind: awssim.Slow, Delay: 5 * time.Second}},
			config:   func(c *Config) { c.ScopeTimeout = 300 * time.Millisecond },
			check:    checkKeyRotation,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.TimedOut,
		},
		{
			name:     "every key is located",
			setup:    withKey(awssim.KMSKey{Symmetric: true, Enabled: true}),
			config:   func(c *Config) { c.AllowedRegions = []string{"eu-central-1"} },
			check:    LocationCheck,
			resource: testKeyARN,
			status:   finding.Fail,
			observed: map[string]any{"region": "eu-west-1"},
		},
	})
}

func TestKMSKeysArePaged(t *testing.T) {
	e := testEstate()
	const n = 1200 // the collector asks for 1000 keys a page
	for i := range n {
		mainRegion(e).KMSKeys = append(mainRegion(e).KMSKeys, awssim.KMSKey{
			ID: fmt.Sprintf("key-%04d", i), CustomerManaged: true, Symmetric: true, Enabled: true, Rotation: i < 1000,
		})
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if got := sim.Calls("kms", "ListKeys"); got != 2 {
		t.Errorf("ListKeys called %d times, want 2 pages", got)
	}
	count := map[finding.Status]int{}
	for _, f := range rec.Of(checkKeyRotation, "") {
		count[f.Status]++
	}
	if count[finding.Pass] != 1000 || count[finding.Fail] != 200 {
		t.Errorf("key_rotation verdicts %v, want 1000 pass and 200 fail", count)
	}
}
