package gcp

import (
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

const testKey = "//cloudkms.googleapis.com/projects/test-project-1/locations/europe-west1/keyRings/ring/cryptoKeys/key"

const day = 24 * time.Hour

// symmetric is an enabled symmetric key rotating every period.
func symmetric(period time.Duration) gcpsim.CryptoKey {
	return gcpsim.CryptoKey{Name: "key", Purpose: "ENCRYPT_DECRYPT", PrimaryState: "ENABLED", RotationPeriod: period}
}

func withKey(k gcpsim.CryptoKey) func(*gcpsim.Estate) {
	return func(e *gcpsim.Estate) {
		project(e).KeyRings = []gcpsim.KeyRing{{Name: "ring", Location: "europe-west1", Keys: []gcpsim.CryptoKey{k}}}
	}
}

func TestKeyRotation(t *testing.T) {
	asym := gcpsim.CryptoKey{Name: "key", Purpose: "ASYMMETRIC_SIGN", ProtectionLevel: "HSM"}
	external := symmetric(0)
	external.ProtectionLevel = "EXTERNAL"
	imported := symmetric(0)
	imported.ImportOnly = true
	destroyed := symmetric(0)
	destroyed.PrimaryState = "DESTROYED"
	cases := []simCase{
		{name: "rotation every 90 days passes", setup: withKey(symmetric(90 * day)),
			check: checkKeyRotation, resource: testKey, status: finding.Pass, region: "europe-west1",
			observed: map[string]any{"rotation_period_days": 90, "purpose": "ENCRYPT_DECRYPT", "protection_level": "SOFTWARE"}},
		{name: "rotation every 30 days passes", setup: withKey(symmetric(30 * day)),
			check: checkKeyRotation, resource: testKey, status: finding.Pass},
		{name: "rotation every 365 days fails", setup: withKey(symmetric(365 * day)),
			check: checkKeyRotation, resource: testKey, status: finding.Fail, observed: map[string]any{"rotation_period_days": 365},
			detail: "more than 90"},
		{name: "no rotation fails", setup: withKey(symmetric(0)),
			check: checkKeyRotation, resource: testKey, status: finding.Fail, detail: "never rotates"},
		{name: "asymmetric key is not applicable", setup: withKey(asym),
			check: checkKeyRotation, resource: testKey, status: finding.NotApplicable, observed: map[string]any{"purpose": "ASYMMETRIC_SIGN"}},
		{name: "external key is not applicable", setup: withKey(external),
			check: checkKeyRotation, resource: testKey, status: finding.NotApplicable, detail: "external key manager"},
		{name: "import-only key is not applicable", setup: withKey(imported),
			check: checkKeyRotation, resource: testKey, status: finding.NotApplicable, detail: "import-only"},
		{name: "key without an enabled primary is not applicable", setup: withKey(destroyed),
			check: checkKeyRotation, resource: testKey, status: finding.NotApplicable, observed: map[string]any{"primary_state": "DESTROYED"}},
		{name: "key ring listing denied leaves its location not assessed", setup: withKey(symmetric(90 * day)),
			faults: []gcpsim.Fault{{Service: "cloudkms", Method: "keyRings.list", Kind: gcpsim.AccessDenied}},
			check:  checkKeyRotation, resource: "//cloudkms.googleapis.com/projects/test-project-1/locations/europe-west1",
			status: finding.NotAssessed, reason: finding.AccessDenied, region: "europe-west1"},
		{name: "key listing throttled leaves its key ring not assessed", setup: withKey(symmetric(90 * day)),
			faults: []gcpsim.Fault{{Service: "cloudkms", Method: "cryptoKeys.list", Kind: gcpsim.Throttle}},
			check:  checkKeyRotation, resource: "//cloudkms.googleapis.com/projects/test-project-1/locations/europe-west1/keyRings/ring",
			status: finding.NotAssessed, reason: finding.Throttled},
		{name: "global key fails an EU location policy", setup: func(e *gcpsim.Estate) {
			e.Locations = []string{"europe-west1", "global"}
			project(e).KeyRings = []gcpsim.KeyRing{{Name: "ring", Location: "global", Keys: []gcpsim.CryptoKey{symmetric(90 * day)}}}
		}, config: func(c *Config) { c.AllowedRegions = []string{"europe-west1", "europe"} },
			check: LocationCheck, resource: "//cloudkms.googleapis.com/projects/test-project-1/locations/global/keyRings/ring/cryptoKeys/key",
			status: finding.Fail, region: GlobalRegion},
		{name: "multi-regional key named in the policy passes", setup: func(e *gcpsim.Estate) {
			e.Locations = []string{"europe"}
			project(e).KeyRings = []gcpsim.KeyRing{{Name: "ring", Location: "europe", Keys: []gcpsim.CryptoKey{symmetric(90 * day)}}}
		}, config: func(c *Config) { c.AllowedRegions = []string{"europe-west1", "europe"} },
			check: LocationCheck, resource: "//cloudkms.googleapis.com/projects/test-project-1/locations/europe/keyRings/ring/cryptoKeys/key",
			status: finding.Pass, region: "europe"},
	}
	cases = append(cases, listingFaults(checkKeyRotation, "cloudkms", "locations.list", withKey(symmetric(90*day)), "no Cloud KMS keys")...)
	runSimCases(t, cases)
}

func TestKMSFailureStaysWithItsLocation(t *testing.T) {
	e := testEstate()
	e.Locations = []string{"europe-west1", "europe-west3"}
	withKey(symmetric(90 * day))(e)
	c, sim := startSim(t, e, nil)
	sim.Inject(gcpsim.Fault{Service: "cloudkms", Method: "keyRings.list", Resource: "europe-west3", Kind: gcpsim.AccessDenied})
	rec := collect(t, c)
	if f := rec.One(t, checkKeyRotation, testKey); f.Status != finding.Pass {
		t.Errorf("key in europe-west1 = %s, want pass", f.Status)
	}
	if f := rec.One(t, checkKeyRotation, "//cloudkms.googleapis.com/projects/test-project-1/locations/europe-west3"); f.Reason != finding.AccessDenied {
		t.Errorf("europe-west3 = %s/%s, want not_assessed/access_denied", f.Status, f.Reason)
	}
	if n := len(rec.Of(checkKeyRotation, "*")); n != 0 {
		t.Errorf("one location's failure marked the whole project: %d findings on *", n)
	}
}

func TestKMSAsksOnlyTheConfiguredLocations(t *testing.T) {
	e := testEstate()
	e.Locations = []string{"europe-west1", "europe-west3", "us-central1", "global"}
	withKey(symmetric(90 * day))(e)
	c, sim := startSim(t, e, func(c *Config) { c.Regions = []string{"europe-west1", "global"} })
	rec := collect(t, c)
	if n := sim.Calls("cloudkms", "locations.list"); n != 0 {
		t.Errorf("locations.list called %d times though the locations are configured", n)
	}
	if n := sim.Calls("cloudkms", "keyRings.list"); n != 2 {
		t.Errorf("keyRings.list called %d times, want once per configured location (2)", n)
	}
	rec.One(t, checkKeyRotation, testKey)
}

func TestKMSWithoutKeysAfterAFailureIsNotApplicableNowhere(t *testing.T) {
	e := testEstate()
	c, sim := startSim(t, e, nil)
	sim.Inject(gcpsim.Fault{Service: "cloudkms", Method: "keyRings.list", Kind: gcpsim.ServerError})
	rec := collect(t, c)
	if n := len(rec.Of(checkKeyRotation, "*")); n != 0 {
		t.Errorf("%d findings on *: a project that could not be looked at everywhere is not known to have no keys", n)
	}
}
