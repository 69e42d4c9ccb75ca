package azure

import (
	"testing"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/azuresim"
)

// nsgID is the ID of the NSG withNSG creates.
const nsgID = "/subscriptions/" + sub1 + "/resourceGroups/" + group + "/providers/Microsoft.Network/networkSecurityGroups/nsg-test"

// withNSG puts one NSG with rules in the estate, with an enabled flow log
// on it.
func withNSG(rules ...azuresim.SecurityRule) func(*azuresim.Estate) {
	return func(e *azuresim.Estate) {
		home(e).NSGs = []azuresim.NSG{{Name: "nsg-test", ResourceGroup: group, Location: loc, Rules: rules}}
		home(e).FlowLogs = []azuresim.FlowLog{{Name: "fl-test", Location: loc, Target: nsgID, Enabled: true}}
	}
}

func allow(name string, prio int, src, port string) azuresim.SecurityRule {
	return azuresim.SecurityRule{Name: name, Priority: prio, Sources: []string{src}, Ports: []string{port}}
}

func TestNSGAdminPorts(t *testing.T) {
	deny := func(name string, prio int, src, port string) azuresim.SecurityRule {
		r := allow(name, prio, src, port)
		r.Access = "Deny"
		return r
	}
	var cases []simCase
	for _, tc := range []struct {
		name   string
		rules  []azuresim.SecurityRule
		status finding.Status
		detail string
	}{
		{"HTTPS from the internet passes", []azuresim.SecurityRule{allow("https", 100, "Internet", "443")}, finding.Pass, "admits no one"},
		{"SSH from a private range passes", []azuresim.SecurityRule{allow("ssh", 100, "10.0.0.0/8", "22")}, finding.Pass, ""},
		{"SSH from the VirtualNetwork tag passes", []azuresim.SecurityRule{allow("ssh", 100, "VirtualNetwork", "22")}, finding.Pass, ""},
		{"SSH from * fails", []azuresim.SecurityRule{allow("ssh", 100, "*", "22")}, finding.Fail, "rule ssh admits the internet to SSH (22/tcp)"},
		{"SSH from 0.0.0.0/0 fails", []azuresim.SecurityRule{allow("ssh", 100, "0.0.0.0/0", "22")}, finding.Fail, "SSH"},
		{"SSH from Any fails", []azuresim.SecurityRule{allow("ssh", 100, "Any", "22")}, finding.Fail, "SSH"},
		{"RDP from the Internet tag fails", []azuresim.SecurityRule{allow("rdp", 100, "Internet", "3389")}, finding.Fail, "RDP (3389/tcp)"},
		{"RDP over UDP fails", []azuresim.SecurityRule{{Name: "rdp-udp", Priority: 100, Protocol: "Udp", Sources: []string{"Internet"}, Ports: []string{"3389"}}}, finding.Fail, "RDP (3389/udp)"},
		{"a port range spanning SSH fails", []azuresim.SecurityRule{allow("range", 100, "*", "20-25")}, finding.Fail, "SSH"},
		{"SSH among several ranges and sources fails", []azuresim.SecurityRule{{Name: "multi", Priority: 100,
			Sources: []string{"10.0.0.0/8", "0.0.0.0/0"}, Ports: []string{"80", "22"}}}, finding.Fail, "SSH"},
		{"UDP on port 22 does not open SSH", []azuresim.SecurityRule{{Name: "udp", Priority: 100, Protocol: "Udp", Sources: []string{"*"}, Ports: []string{"22"}}}, finding.Pass, ""},
		{"a higher-priority deny shadows the allow", []azuresim.SecurityRule{deny("deny-ssh", 100, "Internet", "22"), allow("ssh", 200, "*", "22")}, finding.Pass, ""},
		{"a lower-priority deny does not", []azuresim.SecurityRule{allow("ssh", 100, "*", "22"), deny("deny-ssh", 200, "Internet", "22")}, finding.Fail, "rule ssh"},
		{"a deny from a private range shadows nothing", []azuresim.SecurityRule{deny("deny-ssh", 100, "10.0.0.0/8", "22"), allow("ssh", 200, "*", "22")}, finding.Fail, "rule ssh"},
		{"an outbound rule is not ingress", []azuresim.SecurityRule{{Name: "out", Priority: 100, Direction: "Outbound", Sources: []string{"*"}, Ports: []string{"22"}}}, finding.Pass, ""},
	} {
		c := simCase{name: tc.name, setup: withNSG(tc.rules...), check: checkNSGAdminPorts, resource: nsgID, status: tc.status, detail: tc.detail}
		if tc.status == finding.Pass {
			c.observed = map[string]any{"open_rule": false}
		}
		cases = append(cases, c)
	}
	cases = append(cases, simCase{name: "the failing rule is the evidence", setup: withNSG(allow("ssh", 100, "*", "22")),
		check: checkNSGAdminPorts, resource: nsgID, status: finding.Fail,
		observed: map[string]any{"rule": map[string]any{"name": "ssh", "priority": 100, "access": "Allow", "protocol": "Tcp",
			"sources": []any{"*"}, "destination_ports": []any{"22"}}}})
	runSimCases(t, cases)
}

func TestNSGAllPorts(t *testing.T) {
	runSimCases(t, []simCase{
		{name: "every port from the internet fails", setup: withNSG(azuresim.SecurityRule{Name: "all", Priority: 100, Protocol: "*", Sources: []string{"Internet"}, Ports: []string{"*"}}),
			check: checkNSGAllPorts, resource: nsgID, status: finding.Fail, detail: "rule all admits the internet on every TCP port"},
		{name: "0-65535 from * fails", setup: withNSG(allow("range", 100, "*", "0-65535")),
			check: checkNSGAllPorts, resource: nsgID, status: finding.Fail},
		{name: "one port from the internet passes", setup: withNSG(allow("https", 100, "*", "443")),
			check: checkNSGAllPorts, resource: nsgID, status: finding.Pass, observed: map[string]any{"open_rule": false}},
		{name: "every port from a private range passes", setup: withNSG(allow("internal", 100, "172.16.0.0/12", "*")),
			check: checkNSGAllPorts, resource: nsgID, status: finding.Pass},
		{name: "the default rules alone pass", setup: withNSG(),
			check: checkNSGAllPorts, resource: nsgID, status: finding.Pass},
	})
}

func TestNSGFlowLogs(t *testing.T) {
	vnet := resID("Microsoft.Network/virtualNetworks", "vnet-test")
	subnet := vnet + "/subnets/snet-a"
	attached := func(flowTarget string, enabled bool) func(*azuresim.Estate) {
		return func(e *azuresim.Estate) {
			home(e).NSGs = []azuresim.NSG{{Name: "nsg-test", ResourceGroup: group, Location: loc, Subnets: []string{subnet}}}
			home(e).FlowLogs = []azuresim.FlowLog{{Name: "fl", Location: loc, Target: flowTarget, Enabled: enabled}}
		}
	}
	noFlowLog := func(e *azuresim.Estate) { withNSG()(e); home(e).FlowLogs = nil }
	runSimCases(t, []simCase{
		{name: "enabled NSG flow log passes", setup: withNSG(),
			check: checkNSGFlowLogs, resource: nsgID, status: finding.Pass,
			observed: map[string]any{"flow_logs": []any{
				"/subscriptions/" + sub1 + "/resourceGroups/NetworkWatcherRG/providers/Microsoft.Network/networkWatchers/NetworkWatcher_westeurope/flowLogs/fl-test"}}},
		{name: "disabled NSG flow log fails", setup: func(e *azuresim.Estate) { withNSG()(e); home(e).FlowLogs[0].Enabled = false },
			check: checkNSGFlowLogs, resource: nsgID, status: finding.Fail, detail: "disabled"},
		{name: "no flow log fails", setup: noFlowLog,
			check: checkNSGFlowLogs, resource: nsgID, status: finding.Fail, detail: "no enabled flow log",
			observed: map[string]any{"flow_logs": []any{}}},
		{name: "a VNet flow log on the attached subnet's network passes", setup: attached(vnet, true),
			check: checkNSGFlowLogs, resource: nsgID, status: finding.Pass, detail: "virtual network flow logs"},
		{name: "a subnet flow log passes", setup: attached(subnet, true),
			check: checkNSGFlowLogs, resource: nsgID, status: finding.Pass},
		{name: "a disabled VNet flow log fails", setup: attached(vnet, false),
			check: checkNSGFlowLogs, resource: nsgID, status: finding.Fail,
			observed: map[string]any{"uncovered": []any{subnet}}},
		{name: "a flow log on another network fails", setup: attached(resID("Microsoft.Network/virtualNetworks", "other"), true),
			check: checkNSGFlowLogs, resource: nsgID, status: finding.Fail},
		{name: "denied watcher listing leaves flow logs not assessed", setup: withNSG(),
			faults: []azuresim.Fault{{Service: "network", Operation: "NetworkWatchers_ListAll", Kind: azuresim.AccessDenied}},
			check:  checkNSGFlowLogs, resource: nsgID, status: finding.NotAssessed, reason: finding.AccessDenied, detail: "list network watchers"},
		{name: "denied flow log listing leaves the location not assessed", setup: withNSG(),
			faults: []azuresim.Fault{{Service: "network", Operation: "FlowLogs_List", Kind: azuresim.AccessDenied}},
			check:  checkNSGFlowLogs, resource: nsgID, status: finding.NotAssessed, reason: finding.AccessDenied, detail: "list flow logs of network watcher NetworkWatcher_westeurope"},
		{name: "failing flow log listing is an API error", setup: withNSG(),
			faults: []azuresim.Fault{{Service: "network", Operation: "FlowLogs_List", Kind: azuresim.ServerError}},
			check:  checkNSGFlowLogs, resource: nsgID, status: finding.NotAssessed, reason: finding.APIError},
		{name: "denied flow logs keep the rule checks", setup: withNSG(),
			faults: []azuresim.Fault{{Service: "network", Operation: "NetworkWatchers_ListAll", Kind: azuresim.AccessDenied}},
			check:  checkNSGAdminPorts, resource: nsgID, status: finding.Pass},
	})
}

func TestNetworkWithoutNSGsIsNotApplicable(t *testing.T) {
	var cases []simCase
	for _, check := range networkChecks() {
		cases = append(cases, simCase{name: check, check: check, resource: "*", status: finding.NotApplicable})
	}
	runSimCases(t, cases)
}
