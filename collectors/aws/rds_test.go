package aws

import (
	"fmt"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

const testDBARN = "arn:aws:rds:eu-west-1:111111111111:db:orders"

func withDB(db awssim.DBInstance) func(*awssim.Estate) {
	db.ID, db.Engine = "orders", "postgres"
	return func(e *awssim.Estate) { mainRegion(e).DBInstances = []awssim.DBInstance{db} }
}

// rdsListingFaults are the ways the one RDS listing can fail, each of
// which leaves every RDS check of the scope not assessed.
func rdsListingFaults(check string) []simCase {
	healthy := withDB(awssim.DBInstance{StorageEncrypted: true, BackupRetention: 7})
	return []simCase{
		{
			name:     "denied listing leaves the scope not assessed",
			setup:    healthy,
			faults:   []awssim.Fault{{Service: "rds", Action: "DescribeDBInstances", Kind: awssim.AccessDenied}},
			check:    check,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.AccessDenied,
		},
		{
			name:     "throttled listing leaves the scope not assessed",
			setup:    healthy,
			faults:   []awssim.Fault{{Service: "rds", Action: "DescribeDBInstances", Kind: awssim.Throttle}},
			check:    check,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.Throttled,
		},
		{
			name:     "malformed listing leaves the scope not assessed",
			setup:    healthy,
			faults:   []awssim.Fault{{Service: "rds", Action: "DescribeDBInstances", Kind: awssim.Malformed}},
			check:    check,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.APIError,
		},
		{
			name:     "listing slower than the scope timeout is not assessed",
			setup:    healthy,
			faults:   []awssim.Fault{{Service: "rds", Action: "DescribeDBInstances", Kind: awssim.Slow, Delay: 5 * time.Second}},
			config:   func(c *Config) { c.ScopeTimeout = 300 * time.Millisecond },
			check:    check,
			resource: "*",
			status:   finding.NotAssessed,
			reason:   finding.TimedOut,
		},
		{
			name:     "region without instances is not applicable",
			check:    check,
			resource: "*",
			status:   finding.NotApplicable,
			detail:   "no RDS DB instances",
		},
	}
}

func TestRDSStorageEncrypted(t *testing.T) {
	runSimCases(t, append([]simCase{
		{
			name:     "encrypted instance passes",
			setup:    withDB(awssim.DBInstance{StorageEncrypted: true}),
			check:    checkRDSEncrypted,
			resource: testDBARN,
			status:   finding.Pass,
			observed: map[string]any{"storage_encrypted": true},
		},
		{
			name:     "unencrypted instance fails",
			setup:    withDB(awssim.DBInstance{}),
			check:    checkRDSEncrypted,
			resource: testDBARN,
			status:   finding.Fail,
			observed: map[string]any{"storage_encrypted": false},
		},
		{
			name:     "every instance is located",
			setup:    withDB(awssim.DBInstance{}),
			config:   func(c *Config) { c.AllowedRegions = []string{"eu-west-1"} },
			check:    LocationCheck,
			resource: testDBARN,
			status:   finding.Pass,
		},
	}, rdsListingFaults(checkRDSEncrypted)...))
}

func TestRDSPublicAccess(t *testing.T) {
	runSimCases(t, append([]simCase{
		{
			name:     "private instance passes",
			setup:    withDB(awssim.DBInstance{}),
			check:    checkRDSPublic,
			resource: testDBARN,
			status:   finding.Pass,
			observed: map[string]any{"publicly_accessible": false},
		},
		{
			name:     "publicly accessible instance fails",
			setup:    withDB(awssim.DBInstance{PubliclyAccessible: true}),
			check:    checkRDSPublic,
			resource: testDBARN,
			status:   finding.Fail,
			observed: map[string]any{"publicly_accessible": true},
		},
	}, rdsListingFaults(checkRDSPublic)...))
}

func TestRDSBackupRetention(t *testing.T) {
	runSimCases(t, append([]simCase{
		{
			name:     "a week of backups passes",
			setup:    withDB(awssim.DBInstance{BackupRetention: 7}),
			check:    checkRDSBackup,
			resource: testDBARN,
			status:   finding.Pass,
			observed: map[string]any{"backup_retention_period": 7},
		},
		{
			name:     "a day of backups fails",
			setup:    withDB(awssim.DBInstance{BackupRetention: 1}),
			check:    checkRDSBackup,
			resource: testDBARN,
			status:   finding.Fail,
			observed: map[string]any{"backup_retention_period": 1},
		},
		{
			name:     "disabled backups fail",
			setup:    withDB(awssim.DBInstance{}),
			check:    checkRDSBackup,
			resource: testDBARN,
			status:   finding.Fail,
			observed: map[string]any{"backup_retention_period": 0},
			detail:   "turned off",
		},
	}, rdsListingFaults(checkRDSBackup)...))
}

func TestRDSInstancesArePaged(t *testing.T) {
	e := testEstate()
	const n = 150 // the collector asks for 100 instances a page, the most RDS allows
	for i := range n {
		mainRegion(e).DBInstances = append(mainRegion(e).DBInstances, awssim.DBInstance{
			ID: fmt.Sprintf("db-%03d", i), Engine: "mysql", StorageEncrypted: i >= 100, BackupRetention: 7,
		})
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if got := sim.Calls("rds", "DescribeDBInstances"); got != 2 {
		t.Errorf("DescribeDBInstances called %d times, want 2 pages", got)
	}
	count := map[finding.Status]int{}
	for _, f := range rec.Of(checkRDSEncrypted, "") {
		count[f.Status]++
	}
	if count[finding.Pass] != 50 || count[finding.Fail] != 100 {
		t.Errorf("storage_encrypted verdicts %v, want 50 pass and 100 fail", count)
	}
}
