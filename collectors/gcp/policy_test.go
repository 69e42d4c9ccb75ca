package gcp

import (
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

const testPolicyRes = "//cloudresourcemanager.googleapis.com/projects/test-project-1"

// allDataAccess turns on every Data Access log type for all services.
func allDataAccess() gcpsim.AuditConfig {
	return gcpsim.AuditConfig{Service: "allServices", LogConfigs: []gcpsim.AuditLogConfig{
		{LogType: "ADMIN_READ"}, {LogType: "DATA_READ"}, {LogType: "DATA_WRITE"}}}
}

// inOrg puts testEstate's project in folder 5 of organisation 999, under
// the given policies.
func inOrg(org, folder, proj gcpsim.Policy) func(*gcpsim.Estate) {
	return func(e *gcpsim.Estate) {
		e.Organization, e.OrgPolicy = "999", org
		e.Folders = []*gcpsim.Folder{{ID: "5", Parent: "organizations/999", DisplayName: "prod", Policy: folder}}
		project(e).Parent, project(e).Policy = "folders/5", proj
	}
}

func withPolicy(p gcpsim.Policy) func(*gcpsim.Estate) {
	return func(e *gcpsim.Estate) { project(e).Policy = p }
}

func policyCases(check string) []simCase {
	cases := listingFaults(check, "cloudresourcemanager", "projects.getIamPolicy", nil, "")
	// Every project has an IAM policy: there is no empty case.
	return cases[:len(cases)-1]
}

func TestDataAccessAudit(t *testing.T) {
	only := func(types ...string) gcpsim.Policy {
		ac := gcpsim.AuditConfig{Service: "allServices"}
		for _, typ := range types {
			ac.LogConfigs = append(ac.LogConfigs, gcpsim.AuditLogConfig{LogType: typ})
		}
		return gcpsim.Policy{AuditConfigs: []gcpsim.AuditConfig{ac}}
	}
	exempt := gcpsim.Policy{AuditConfigs: []gcpsim.AuditConfig{allDataAccess()}}
	exempt.AuditConfigs[0].LogConfigs[1].ExemptedMembers = []string{"user:bob@example.com"}
	oneService := gcpsim.Policy{AuditConfigs: []gcpsim.AuditConfig{allDataAccess()}}
	oneService.AuditConfigs[0].Service = "storage.googleapis.com"
	runSimCases(t, append([]simCase{
		{name: "all log types on the project passes", setup: withPolicy(gcpsim.Policy{AuditConfigs: []gcpsim.AuditConfig{allDataAccess()}}),
			check: checkDataAccessAudit, resource: testPolicyRes, status: finding.Pass, region: GlobalRegion,
			observed: map[string]any{"log_types": []any{"ADMIN_READ", "DATA_READ", "DATA_WRITE"}, "configured_on": []any{"projects/test-project-1"}}},
		{name: "log types split between organisation and project pass",
			setup: inOrg(only("ADMIN_READ"), gcpsim.Policy{}, only("DATA_READ", "DATA_WRITE")),
			check: checkDataAccessAudit, resource: testPolicyRes, status: finding.Pass,
			observed: map[string]any{"configured_on": []any{"projects/test-project-1", "organizations/999"}}},
		{name: "log types on the folder alone pass",
			setup: inOrg(gcpsim.Policy{}, gcpsim.Policy{AuditConfigs: []gcpsim.AuditConfig{allDataAccess()}}, gcpsim.Policy{}),
			check: checkDataAccessAudit, resource: testPolicyRes, status: finding.Pass},
		{name: "no audit config fails", setup: withPolicy(gcpsim.Policy{}),
			check: checkDataAccessAudit, resource: testPolicyRes, status: finding.Fail, detail: "missing ADMIN_READ, DATA_READ, DATA_WRITE"},
		{name: "writes only fails", setup: withPolicy(only("DATA_WRITE")),
			check: checkDataAccessAudit, resource: testPolicyRes, status: finding.Fail, observed: map[string]any{"log_types": []any{"DATA_WRITE"}}},
		{name: "one service only fails", setup: withPolicy(oneService),
			check: checkDataAccessAudit, resource: testPolicyRes, status: finding.Fail},
		{name: "an exempted member fails", setup: withPolicy(exempt),
			check: checkDataAccessAudit, resource: testPolicyRes, status: finding.Fail,
			observed: map[string]any{"exempted_members": []any{"DATA_READ user:bob@example.com"}}},
		{name: "unreadable organisation policy leaves a complete project not assessed",
			setup:  inOrg(gcpsim.Policy{}, gcpsim.Policy{}, gcpsim.Policy{AuditConfigs: []gcpsim.AuditConfig{allDataAccess()}}),
			faults: []gcpsim.Fault{{Service: "cloudresourcemanager", Method: "organizations.getIamPolicy", Kind: gcpsim.AccessDenied}},
			check:  checkDataAccessAudit, resource: testPolicyRes, status: finding.NotAssessed, reason: finding.AccessDenied,
			detail: "inherited from above the project"},
		{name: "unreadable folder still fails a project that exempts someone",
			setup:  inOrg(gcpsim.Policy{}, gcpsim.Policy{}, exempt),
			faults: []gcpsim.Fault{{Service: "cloudresourcemanager", Method: "folders.getIamPolicy", Kind: gcpsim.AccessDenied}},
			check:  checkDataAccessAudit, resource: testPolicyRes, status: finding.Fail},
		{name: "unknown parent leaves the project not assessed",
			setup:  inOrg(gcpsim.Policy{}, gcpsim.Policy{}, gcpsim.Policy{}),
			faults: []gcpsim.Fault{{Service: "cloudresourcemanager", Method: "projects.get", Kind: gcpsim.Throttle}},
			check:  checkDataAccessAudit, resource: testPolicyRes, status: finding.NotAssessed, reason: finding.Throttled},
	}, policyCases(checkDataAccessAudit)...))
}

func TestPrimitiveRoles(t *testing.T) {
	grant := func(role string, members ...string) gcpsim.Policy {
		return gcpsim.Policy{Bindings: []gcpsim.Binding{{Role: role, Members: members}}}
	}
	runSimCases(t, append([]simCase{
		{name: "groups and service accounts as owners pass",
			setup: withPolicy(grant("roles/owner", "group:admins@example.com", "serviceAccount:tf@p.iam.gserviceaccount.com")),
			check: checkPrimitiveRoles, resource: testPolicyRes, status: finding.Pass, observed: map[string]any{"grants": []any{}}},
		{name: "a user with a narrow role passes", setup: withPolicy(grant("roles/storage.admin", "user:alice@example.com")),
			check: checkPrimitiveRoles, resource: testPolicyRes, status: finding.Pass},
		{name: "a user as owner fails", setup: withPolicy(grant("roles/owner", "group:admins@example.com", "user:alice@example.com")),
			check: checkPrimitiveRoles, resource: testPolicyRes, status: finding.Fail,
			observed: map[string]any{"grants": []any{map[string]any{"member": "user:alice@example.com", "role": "roles/owner", "granted_on": "projects/test-project-1"}}}},
		{name: "a user as editor on the folder fails",
			setup: inOrg(gcpsim.Policy{}, grant("roles/editor", "user:dave@example.com"), gcpsim.Policy{}),
			check: checkPrimitiveRoles, resource: testPolicyRes, status: finding.Fail,
			observed: map[string]any{"grants": []any{map[string]any{"granted_on": "folders/5", "role": "roles/editor"}}}},
		{name: "unreadable folder leaves a clean project not assessed",
			setup:  inOrg(gcpsim.Policy{}, gcpsim.Policy{}, gcpsim.Policy{}),
			faults: []gcpsim.Fault{{Service: "cloudresourcemanager", Method: "folders.get", Kind: gcpsim.AccessDenied}},
			check:  checkPrimitiveRoles, resource: testPolicyRes, status: finding.NotAssessed, reason: finding.AccessDenied},
		{name: "unreadable folder still fails a project with a user owner",
			setup:  inOrg(gcpsim.Policy{}, gcpsim.Policy{}, grant("roles/owner", "user:alice@example.com")),
			faults: []gcpsim.Fault{{Service: "cloudresourcemanager", Method: "folders.get", Kind: gcpsim.AccessDenied}},
			check:  checkPrimitiveRoles, resource: testPolicyRes, status: finding.Fail},
	}, policyCases(checkPrimitiveRoles)...))
}

func TestAncestorPoliciesAreReadOncePerRun(t *testing.T) {
	e := testEstate()
	inOrg(gcpsim.Policy{}, gcpsim.Policy{}, gcpsim.Policy{})(e)
	for _, id := range []string{"test-project-2", "test-project-3"} {
		e.Projects = append(e.Projects, &gcpsim.Project{ID: id, Number: int64(len(e.Projects) + 1), Parent: "folders/5"})
	}
	c, sim := startSim(t, e, nil)
	collect(t, c)
	for _, m := range []string{"folders.get", "folders.getIamPolicy", "organizations.getIamPolicy"} {
		if n := sim.Calls("cloudresourcemanager", m); n != 1 {
			t.Errorf("%s called %d times for three projects in one folder, want once", m, n)
		}
	}
}
