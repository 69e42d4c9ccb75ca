package gcp

import (
	"fmt"
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

const testInstance = "//cloudsql.googleapis.com/projects/test-project-1/instances/orders-db"

// goodInstance passes every Cloud SQL check.
func goodInstance() gcpsim.SQLInstance {
	return gcpsim.SQLInstance{Name: "orders-db", Region: "europe-west1", SSLMode: "ENCRYPTED_ONLY", Backups: true, RetainedBackups: 7}
}

func withInstance(in gcpsim.SQLInstance) func(*gcpsim.Estate) {
	return func(e *gcpsim.Estate) { project(e).SQLInstances = []gcpsim.SQLInstance{in} }
}

// instance is goodInstance changed by f.
func instance(f func(*gcpsim.SQLInstance)) func(*gcpsim.Estate) {
	in := goodInstance()
	f(&in)
	return withInstance(in)
}

func sqlCases(check string) []simCase {
	return listingFaults(check, "sqladmin", "instances.list", withInstance(goodInstance()), "no Cloud SQL instances")
}

func TestSQLPublicIP(t *testing.T) {
	runSimCases(t, append([]simCase{
		{name: "private IP only passes", setup: withInstance(goodInstance()),
			check: checkSQLPublicIP, resource: testInstance, status: finding.Pass, region: "europe-west1",
			observed: map[string]any{"ipv4_enabled": false}},
		{name: "public IP open to the world fails",
			setup: instance(func(in *gcpsim.SQLInstance) { in.PublicIP, in.AuthorizedNetworks = true, []string{"0.0.0.0/0"} }),
			check: checkSQLPublicIP, resource: testInstance, status: finding.Fail,
			observed: map[string]any{"ipv4_enabled": true, "authorized_networks": []any{"0.0.0.0/0"}}},
		{name: "public IP without authorized networks fails",
			setup: instance(func(in *gcpsim.SQLInstance) { in.PublicIP = true }),
			check: checkSQLPublicIP, resource: testInstance, status: finding.Fail, detail: "0 authorized networks"},
		{name: "external primary is not applicable",
			setup: instance(func(in *gcpsim.SQLInstance) { in.InstanceType = "ON_PREMISES_INSTANCE" }),
			check: checkSQLPublicIP, resource: testInstance, status: finding.NotApplicable},
		{name: "instance outside the allowed regions fails location",
			setup:  instance(func(in *gcpsim.SQLInstance) { in.Region = "us-central1" }),
			config: func(c *Config) { c.AllowedRegions = []string{"europe-west1"} },
			check:  LocationCheck, resource: testInstance, status: finding.Fail, region: "us-central1"},
	}, sqlCases(checkSQLPublicIP)...))
}

func TestSQLSSLRequired(t *testing.T) {
	runSimCases(t, append([]simCase{
		{name: "encrypted only passes", setup: withInstance(goodInstance()),
			check: checkSQLSSL, resource: testInstance, status: finding.Pass, observed: map[string]any{"ssl_mode": "ENCRYPTED_ONLY"}},
		{name: "client certificates required passes",
			setup: instance(func(in *gcpsim.SQLInstance) { in.SSLMode = "TRUSTED_CLIENT_CERTIFICATE_REQUIRED" }),
			check: checkSQLSSL, resource: testInstance, status: finding.Pass},
		{name: "requireSsl without sslMode passes",
			setup: instance(func(in *gcpsim.SQLInstance) { in.SSLMode, in.RequireSSL = "", true }),
			check: checkSQLSSL, resource: testInstance, status: finding.Pass, observed: map[string]any{"require_ssl": true}},
		{name: "unencrypted connections allowed fails",
			setup: instance(func(in *gcpsim.SQLInstance) { in.SSLMode = "ALLOW_UNENCRYPTED_AND_ENCRYPTED" }),
			check: checkSQLSSL, resource: testInstance, status: finding.Fail, detail: "unencrypted"},
		{name: "neither sslMode nor requireSsl fails",
			setup: instance(func(in *gcpsim.SQLInstance) { in.SSLMode = "" }),
			check: checkSQLSSL, resource: testInstance, status: finding.Fail},
		{name: "sslMode wins over requireSsl",
			setup: instance(func(in *gcpsim.SQLInstance) { in.SSLMode, in.RequireSSL = "ALLOW_UNENCRYPTED_AND_ENCRYPTED", true }),
			check: checkSQLSSL, resource: testInstance, status: finding.Fail},
	}, sqlCases(checkSQLSSL)...))
}

func TestSQLAutomatedBackups(t *testing.T) {
	runSimCases(t, append([]simCase{
		{name: "seven daily backups pass", setup: withInstance(goodInstance()),
			check: checkSQLBackups, resource: testInstance, status: finding.Pass, observed: map[string]any{"enabled": true, "retained_backups": 7}},
		{name: "default retention passes",
			setup: instance(func(in *gcpsim.SQLInstance) { in.RetainedBackups = 0 }),
			check: checkSQLBackups, resource: testInstance, status: finding.Pass, observed: map[string]any{"retained_backups": 7}},
		{name: "backups off fail",
			setup: instance(func(in *gcpsim.SQLInstance) { in.Backups = false }),
			check: checkSQLBackups, resource: testInstance, status: finding.Fail, observed: map[string]any{"enabled": false}},
		{name: "three retained backups fail",
			setup: instance(func(in *gcpsim.SQLInstance) { in.RetainedBackups = 3 }),
			check: checkSQLBackups, resource: testInstance, status: finding.Fail, detail: "fewer than 7"},
		{name: "read replica is not applicable",
			setup: instance(func(in *gcpsim.SQLInstance) { in.InstanceType, in.Backups = "READ_REPLICA_INSTANCE", false }),
			check: checkSQLBackups, resource: testInstance, status: finding.NotApplicable, detail: "read replica"},
	}, sqlCases(checkSQLBackups)...))
}

func TestSQLInstancesArePaged(t *testing.T) {
	e := testEstate()
	for i := range sqlPageSize + 1 {
		in := goodInstance()
		in.Name = fmt.Sprintf("db-%04d", i)
		project(e).SQLInstances = append(project(e).SQLInstances, in)
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if n := sim.Calls("sqladmin", "instances.list"); n != 2 {
		t.Errorf("instances.list called %d times, want 2 pages", n)
	}
	if n := len(rec.Of(checkSQLBackups, "")); n != sqlPageSize+1 {
		t.Errorf("%d findings, want %d", n, sqlPageSize+1)
	}
}
