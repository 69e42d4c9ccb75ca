package azure

import (
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// goodServer satisfies every SQL check.
func goodServer() azuresim.SQLServer {
	return azuresim.SQLServer{Name: "sql-test", ResourceGroup: group, Location: loc, PublicNetworkAccess: "Disabled", Auditing: true,
		Databases: []azuresim.SQLDatabase{{Name: "orders", TDE: true}}}
}

func withServer(mutate func(*azuresim.SQLServer)) func(*azuresim.Estate) {
	return func(e *azuresim.Estate) {
		sv := goodServer()
		if mutate != nil {
			mutate(&sv)
		}
		home(e).SQLServers = []azuresim.SQLServer{sv}
	}
}

func TestSQLChecks(t *testing.T) {
	server := resID("Microsoft.Sql/servers", "sql-test")
	db := server + "/databases/orders"
	denied := []azuresim.Fault{{Service: "sql", Operation: "Servers_List", Kind: azuresim.AccessDenied}}
	cases := []simCase{
		{name: "auditing on passes", setup: withServer(nil),
			check: checkSQLAuditing, resource: server, status: finding.Pass,
			observed: map[string]any{"state": "Enabled", "azure_monitor_target": true, "retention_days": 90}},
		{name: "auditing off fails", setup: withServer(func(s *azuresim.SQLServer) { s.Auditing = false }),
			check: checkSQLAuditing, resource: server, status: finding.Fail,
			observed: map[string]any{"state": "Disabled"}},
		{name: "denied auditing policy is not assessed", setup: withServer(nil),
			faults: []azuresim.Fault{{Service: "sql", Operation: "ServerBlobAuditingPolicies_Get", Kind: azuresim.AccessDenied}},
			check:  checkSQLAuditing, resource: server, status: finding.NotAssessed, reason: finding.AccessDenied,
			detail: "get auditing policy of SQL server sql-test"},
		{name: "throttled auditing policy is not assessed", setup: withServer(nil),
			faults: []azuresim.Fault{{Service: "sql", Operation: "ServerBlobAuditingPolicies_Get", Kind: azuresim.Throttle}},
			check:  checkSQLAuditing, resource: server, status: finding.NotAssessed, reason: finding.Throttled},

		{name: "TDE on passes", setup: withServer(nil),
			check: checkSQLTDE, resource: db, status: finding.Pass, observed: map[string]any{"state": "Enabled"}},
		{name: "TDE off fails", setup: withServer(func(s *azuresim.SQLServer) { s.Databases[0].TDE = false }),
			check: checkSQLTDE, resource: db, status: finding.Fail, observed: map[string]any{"state": "Disabled"}},
		{name: "master is passed by", setup: withServer(nil),
			check: checkSQLTDE, resource: server + "/databases/master", status: ""},
		{name: "servers without user databases are not applicable", setup: withServer(func(s *azuresim.SQLServer) { s.Databases = nil }),
			check: checkSQLTDE, resource: "*", status: finding.NotApplicable, detail: "no user databases"},
		{name: "denied TDE read is not assessed", setup: withServer(nil),
			faults: []azuresim.Fault{{Service: "sql", Operation: "TransparentDataEncryptions_Get", Kind: azuresim.AccessDenied}},
			check:  checkSQLTDE, resource: db, status: finding.NotAssessed, reason: finding.AccessDenied,
			detail: "get transparent data encryption of database sql-test/orders"},
		{name: "failing database listing leaves the server's databases not assessed", setup: withServer(nil),
			faults: []azuresim.Fault{{Service: "sql", Operation: "Databases_ListByServer", Kind: azuresim.ServerError}},
			check:  checkSQLTDE, resource: server, status: finding.NotAssessed, reason: finding.APIError},

		{name: "public network access disabled passes", setup: withServer(nil),
			check: checkSQLPublicAccess, resource: server, status: finding.Pass,
			observed: map[string]any{"public_network_access": "Disabled"}},
		{name: "public network access enabled fails", setup: withServer(func(s *azuresim.SQLServer) { s.PublicNetworkAccess = "Enabled" }),
			check: checkSQLPublicAccess, resource: server, status: finding.Fail,
			observed: map[string]any{"public_network_access": "Enabled"}},
	}
	for _, check := range sqlChecks() {
		cases = append(cases,
			simCase{name: check + " without servers is not applicable", check: check, resource: "*", status: finding.NotApplicable},
			simCase{name: check + " denied listing is not assessed", setup: withServer(nil), faults: denied,
				check: check, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied},
		)
	}
	var normal, absent []simCase
	for _, c := range cases {
		if c.status == "" {
			absent = append(absent, c)
		} else {
			normal = append(normal, c)
		}
	}
	runSimCases(t, normal)
	for _, c := range absent {
		t.Run(c.name, func(t *testing.T) {
			e := testEstate()
			c.setup(e)
			col, _ := startSim(t, e, nil)
			if got := collect(t, col).Of(c.check, c.resource); len(got) != 0 {
				t.Errorf("want no %s finding on %s, got %+v", c.check, c.resource, got)
			}
		})
	}
}
