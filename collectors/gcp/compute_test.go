package gcp

import (
	"fmt"
	"testing"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/proto"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
)

const (
	testDisk     = "//compute.googleapis.com/projects/test-project-1/zones/europe-west1-b/disks/data-1"
	testFirewall = "//compute.googleapis.com/projects/test-project-1/global/firewalls/rule-1"
	testSubnet   = "//compute.googleapis.com/projects/test-project-1/regions/europe-west1/subnetworks/subnet-1"
	testComputeP = "//compute.googleapis.com/projects/test-project-1"
)

func withDisk(d gcpsim.Disk) func(*gcpsim.Estate) {
	if d.Name == "" {
		d.Name = "data-1"
	}
	if d.Zone == "" {
		d.Zone = "europe-west1-b"
	}
	return func(e *gcpsim.Estate) { project(e).Disks = []gcpsim.Disk{d} }
}

func TestDiskCMEK(t *testing.T) {
	const key = "projects/test-project-1/locations/europe-west1/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
	runSimCases(t, append([]simCase{
		{name: "Cloud KMS key passes", setup: withDisk(gcpsim.Disk{KMSKey: key}),
			check: checkDiskCMEK, resource: testDisk, status: finding.Pass, region: "europe-west1",
			observed: map[string]any{"kms_key_name": key, "customer_supplied_key": false}},
		{name: "customer-supplied key passes", setup: withDisk(gcpsim.Disk{CustomerSupplied: true}),
			check: checkDiskCMEK, resource: testDisk, status: finding.Pass, observed: map[string]any{"customer_supplied_key": true}},
		{name: "Google-managed key fails", setup: withDisk(gcpsim.Disk{}),
			check: checkDiskCMEK, resource: testDisk, status: finding.Fail, detail: "Google-managed"},
		{name: "regional disk is named and located by its region", setup: withDisk(gcpsim.Disk{Zone: "europe-west3", Regional: true}),
			config: func(c *Config) { c.AllowedRegions = []string{"europe-west1"} },
			check:  LocationCheck, resource: "//compute.googleapis.com/projects/test-project-1/regions/europe-west3/disks/data-1",
			status: finding.Fail, region: "europe-west3"},
		{name: "zonal disk is located in its zone's region", setup: withDisk(gcpsim.Disk{}),
			config: func(c *Config) { c.AllowedRegions = []string{"europe-west1"} },
			check:  LocationCheck, resource: testDisk, status: finding.Pass, region: "europe-west1"},
	}, listingFaults(checkDiskCMEK, "compute", "disks.aggregatedList", withDisk(gcpsim.Disk{}), "no persistent disks")...))
}

func TestDisksArePagedAcrossScopes(t *testing.T) {
	e := testEstate()
	e.Locations = []string{"europe-west1", "europe-west3", "us-central1"}
	for i := range computePageSize + 2 {
		zone := "europe-west1-b"
		if i%3 == 0 {
			zone = "europe-west3-a"
		}
		project(e).Disks = append(project(e).Disks, gcpsim.Disk{Name: fmt.Sprintf("d-%04d", i), Zone: zone})
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if n := sim.Calls("compute", "disks.aggregatedList"); n != 2 {
		t.Errorf("disks.aggregatedList called %d times, want 2 pages", n)
	}
	if n := len(rec.Of(checkDiskCMEK, "")); n != computePageSize+2 {
		t.Errorf("%d disk findings, want %d: empty scopes must add none", n, computePageSize+2)
	}
}

func withFirewall(f gcpsim.Firewall) func(*gcpsim.Estate) {
	f.Name = "rule-1"
	return func(e *gcpsim.Estate) { project(e).Firewalls = []gcpsim.Firewall{f} }
}

func world(entries ...gcpsim.FirewallEntry) gcpsim.Firewall {
	return gcpsim.Firewall{Allowed: entries, SourceRanges: []string{"0.0.0.0/0"}}
}

func TestFirewallAdminPorts(t *testing.T) {
	tcp := func(ports ...string) gcpsim.FirewallEntry { return gcpsim.FirewallEntry{Protocol: "tcp", Ports: ports} }
	internal := world(tcp("22"))
	internal.SourceRanges = []string{"10.0.0.0/8"}
	v6 := world(tcp("3389"))
	v6.SourceRanges = []string{"::/0"}
	disabled := world(tcp("22"))
	disabled.Disabled = true
	deny := gcpsim.Firewall{Denied: []gcpsim.FirewallEntry{tcp("22")}, SourceRanges: []string{"0.0.0.0/0"}}
	egress := gcpsim.Firewall{Direction: "EGRESS", Allowed: []gcpsim.FirewallEntry{tcp("22")}, SourceRanges: []string{"0.0.0.0/0"}}
	runSimCases(t, append([]simCase{
		{name: "SSH open to the world fails", setup: withFirewall(world(tcp("22"))),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Fail, region: GlobalRegion,
			observed: map[string]any{"rule": map[string]any{"ip_protocol": "tcp", "source": "0.0.0.0/0", "ports": []any{"22"}}}},
		{name: "RDP open to the IPv6 world fails", setup: withFirewall(v6),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Fail,
			observed: map[string]any{"rule": map[string]any{"source": "::/0"}}},
		{name: "port range covering SSH fails", setup: withFirewall(world(tcp("20-25"))),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Fail},
		{name: "every protocol fails", setup: withFirewall(world(gcpsim.FirewallEntry{Protocol: "all"})),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Fail},
		{name: "TCP without ports fails", setup: withFirewall(world(gcpsim.FirewallEntry{Protocol: "6"})),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Fail},
		{name: "HTTPS to the world passes", setup: withFirewall(world(tcp("443", "8080-8090"))),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Pass, observed: map[string]any{"open_rule": false}},
		{name: "ICMP to the world passes", setup: withFirewall(world(gcpsim.FirewallEntry{Protocol: "icmp"})),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Pass},
		{name: "SSH from an internal range passes", setup: withFirewall(internal),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Pass},
		{name: "disabled rule passes", setup: withFirewall(disabled),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Pass, detail: "disabled"},
		{name: "deny rule passes", setup: withFirewall(deny),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.Pass, detail: "denies"},
		{name: "egress rule is not applicable", setup: withFirewall(egress),
			check: checkFirewallAdminPorts, resource: testFirewall, status: finding.NotApplicable, detail: "egress"},
	}, listingFaults(checkFirewallAdminPorts, "compute", "firewalls.list", withFirewall(world()), "no VPC firewall rules")...))
}

func TestFirewallAllPorts(t *testing.T) {
	runSimCases(t, append([]simCase{
		{name: "every protocol to the world fails", setup: withFirewall(world(gcpsim.FirewallEntry{Protocol: "all"})),
			check: checkFirewallAllPorts, resource: testFirewall, status: finding.Fail,
			observed: map[string]any{"rule": map[string]any{"ip_protocol": "all"}}},
		{name: "UDP without ports fails", setup: withFirewall(world(gcpsim.FirewallEntry{Protocol: "udp"})),
			check: checkFirewallAllPorts, resource: testFirewall, status: finding.Fail},
		{name: "full TCP port range fails", setup: withFirewall(world(gcpsim.FirewallEntry{Protocol: "tcp", Ports: []string{"1-65535"}})),
			check: checkFirewallAllPorts, resource: testFirewall, status: finding.Fail},
		{name: "SSH alone passes", setup: withFirewall(world(gcpsim.FirewallEntry{Protocol: "tcp", Ports: []string{"22"}})),
			check: checkFirewallAllPorts, resource: testFirewall, status: finding.Pass},
	}, listingFaults(checkFirewallAllPorts, "compute", "firewalls.list", withFirewall(world()), "no VPC firewall rules")...))
}

func TestFirewallsArePaged(t *testing.T) {
	e := testEstate()
	for i := range computePageSize + 1 {
		project(e).Firewalls = append(project(e).Firewalls, gcpsim.Firewall{Name: fmt.Sprintf("fw-%04d", i),
			Allowed: []gcpsim.FirewallEntry{{Protocol: "tcp", Ports: []string{"443"}}}, SourceRanges: []string{"0.0.0.0/0"}})
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if n := sim.Calls("compute", "firewalls.list"); n != 2 {
		t.Errorf("firewalls.list called %d times, want 2 pages", n)
	}
	if n := len(rec.Of(checkFirewallAdminPorts, "")); n != computePageSize+1 {
		t.Errorf("%d findings, want %d", n, computePageSize+1)
	}
}

// TestFirewallPortReading covers the port forms the API accepts, beyond
// what the simulated cases reach.
func TestFirewallPortReading(t *testing.T) {
	tests := []struct {
		protocol string
		ports    []string
		admin    bool
		all      bool
	}{
		{"tcp", []string{"3389"}, true, false},
		{"TCP", []string{"21-23"}, true, false},
		{"udp", []string{"3389"}, true, false},
		{"sctp", nil, true, true},
		{"17", []string{"0-65535"}, true, true},
		{"tcp", []string{"23-3388", "3390-65535"}, false, false},
		{"esp", nil, false, false},
		{"all", nil, true, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.protocol, tt.ports), func(t *testing.T) {
			a := &computepb.Allowed{IPProtocol: proto.String(tt.protocol), Ports: tt.ports}
			if got := opensAdminPort(a); got != tt.admin {
				t.Errorf("opens an admin port = %v, want %v", got, tt.admin)
			}
			if got := opensAllPorts(a); got != tt.all {
				t.Errorf("opens every port = %v, want %v", got, tt.all)
			}
		})
	}
}

func withSubnet(s gcpsim.Subnet) func(*gcpsim.Estate) {
	s.Name, s.Region, s.CIDR = "subnet-1", "europe-west1", "10.0.0.0/24"
	return func(e *gcpsim.Estate) { project(e).Subnets = []gcpsim.Subnet{s} }
}

func TestSubnetFlowLogs(t *testing.T) {
	runSimCases(t, append([]simCase{
		{name: "flow logs on passes", setup: withSubnet(gcpsim.Subnet{FlowLogs: true}),
			check: checkSubnetFlowLogs, resource: testSubnet, status: finding.Pass, region: "europe-west1",
			observed: map[string]any{"flow_logs": true, "aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": "0.5"}},
		{name: "flow logs off fails", setup: withSubnet(gcpsim.Subnet{}),
			check: checkSubnetFlowLogs, resource: testSubnet, status: finding.Fail, observed: map[string]any{"flow_logs": false}},
		{name: "proxy-only subnet is not applicable", setup: withSubnet(gcpsim.Subnet{Purpose: "REGIONAL_MANAGED_PROXY"}),
			check: checkSubnetFlowLogs, resource: testSubnet, status: finding.NotApplicable,
			observed: map[string]any{"purpose": "REGIONAL_MANAGED_PROXY"}},
		{name: "subnet outside the allowed regions fails location",
			setup:  func(e *gcpsim.Estate) { withSubnet(gcpsim.Subnet{})(e); project(e).Subnets[0].Region = "us-central1" },
			config: func(c *Config) { c.AllowedRegions = []string{"europe-west1"} },
			check:  LocationCheck, resource: "//compute.googleapis.com/projects/test-project-1/regions/us-central1/subnetworks/subnet-1",
			status: finding.Fail, region: "us-central1"},
	}, listingFaults(checkSubnetFlowLogs, "compute", "subnetworks.aggregatedList", withSubnet(gcpsim.Subnet{}), "no VPC subnetworks")...))
}

func TestOSLogin(t *testing.T) {
	meta := func(kv ...string) func(*gcpsim.Estate) {
		return func(e *gcpsim.Estate) {
			project(e).Metadata = map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				project(e).Metadata[kv[i]] = kv[i+1]
			}
		}
	}
	cases := []simCase{
		{name: "enable-oslogin TRUE passes", setup: meta("enable-oslogin", "TRUE", "enable-oslogin-2fa", "TRUE"),
			check: checkOSLogin, resource: testComputeP, status: finding.Pass, region: GlobalRegion,
			observed: map[string]any{"enable_oslogin": "TRUE", "enable_oslogin_2fa": "TRUE"}},
		{name: "enable-oslogin in lower case passes", setup: meta("enable-oslogin", "true"),
			check: checkOSLogin, resource: testComputeP, status: finding.Pass},
		{name: "enable-oslogin FALSE fails", setup: meta("enable-oslogin", "FALSE"),
			check: checkOSLogin, resource: testComputeP, status: finding.Fail, detail: `"FALSE"`},
		{name: "no enable-oslogin fails", setup: meta("startup-script", "echo hi"),
			check: checkOSLogin, resource: testComputeP, status: finding.Fail, observed: map[string]any{"enable_oslogin": ""}},
	}
	for _, tc := range listingFaults(checkOSLogin, "compute", "projects.get", nil, "") {
		// The project metadata always exists: there is no empty case.
		if tc.status != finding.NotApplicable {
			cases = append(cases, tc)
		}
	}
	runSimCases(t, cases)
}
