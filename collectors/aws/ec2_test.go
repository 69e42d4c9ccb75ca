package aws

import (
	"fmt"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/finding"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

const (
	testVolumeARN     = "arn:aws:ec2:eu-west-1:111111111111:volume/vol-0123456789abcdef0"
	testEBSDefaultARN = "arn:aws:ec2:eu-west-1:111111111111:ebs-default-encryption"
	testGroupARN      = "arn:aws:ec2:eu-west-1:111111111111:security-group/sg-0123456789abcdef0"
	testVPCARN        = "arn:aws:ec2:eu-west-1:111111111111:vpc/vpc-0123456789abcdef0"
)

func withVolume(v awssim.Volume) func(*awssim.Estate) {
	v.ID, v.SizeGiB = "vol-0123456789abcdef0", 100
	return func(e *awssim.Estate) { mainRegion(e).Volumes = []awssim.Volume{v} }
}

func withIngress(rules ...awssim.Rule) func(*awssim.Estate) {
	return func(e *awssim.Estate) {
		mainRegion(e).SecurityGroups = []awssim.SecurityGroup{{ID: "sg-0123456789abcdef0", Name: "web", VPCID: "vpc-0123456789abcdef0", Ingress: rules}}
	}
}

func withVPC(flowLogs bool) func(*awssim.Estate) {
	return func(e *awssim.Estate) {
		mainRegion(e).VPCs = []awssim.VPC{{ID: "vpc-0123456789abcdef0", FlowLogs: flowLogs}}
	}
}

// ec2Faults are the ways one EC2 call can fail, each expected to leave
// check on resource not assessed. A slow answer is cut by the call timeout
// for a single resource's call and by the scope timeout for a listing.
func ec2Faults(setup func(*awssim.Estate), action, check, resource string) []simCase {
	fault := func(k awssim.FaultKind) []awssim.Fault {
		return []awssim.Fault{{Service: "ec2", Action: action, Kind: k, Delay: 5 * time.Second}}
	}
	slow := func(c *Config) { c.CallTimeout = 200 * time.Millisecond }
	if resource == "*" {
		slow = func(c *Config) { c.ScopeTimeout = 300 * time.Millisecond }
	}
	return []simCase{
		{name: action + " denied is not assessed", setup: setup, faults: fault(awssim.AccessDenied),
			check: check, resource: resource, status: finding.NotAssessed, reason: finding.AccessDenied},
		{name: action + " throttled is not assessed", setup: setup, faults: fault(awssim.Throttle),
			check: check, resource: resource, status: finding.NotAssessed, reason: finding.Throttled},
		{name: action + " server error is not assessed", setup: setup, faults: fault(awssim.ServerError),
			check: check, resource: resource, status: finding.NotAssessed, reason: finding.APIError},
		{name: action + " malformed answer is not assessed", setup: setup, faults: fault(awssim.Malformed),
			check: check, resource: resource, status: finding.NotAssessed, reason: finding.APIError},
		{name: action + " too slow is not assessed", setup: setup, faults: fault(awssim.Slow), config: slow,
			check: check, resource: resource, status: finding.NotAssessed, reason: finding.TimedOut},
	}
}

func TestEBSDefaultEncryption(t *testing.T) {
	on := func(e *awssim.Estate) { mainRegion(e).EBSDefaultEncryption = true }
	runSimCases(t, append(append([]simCase{
		{name: "encryption by default passes", setup: on,
			check: checkEBSDefaultEncryption, resource: testEBSDefaultARN, status: finding.Pass, observed: map[string]any{"ebs_encryption_by_default": true}},
		{name: "no encryption by default fails",
			check: checkEBSDefaultEncryption, resource: testEBSDefaultARN, status: finding.Fail, observed: map[string]any{"ebs_encryption_by_default": false}},
		{name: "unlisted volumes leave the region's default not assessed too", setup: on,
			faults: []awssim.Fault{{Service: "ec2", Action: "DescribeVolumes", Kind: awssim.AccessDenied}},
			check:  checkEBSDefaultEncryption, resource: "*", status: finding.NotAssessed, reason: finding.AccessDenied},
	}, ec2Faults(on, "GetEbsEncryptionByDefault", checkEBSDefaultEncryption, testEBSDefaultARN)...),
		// The default is still decided when only it cannot be read: the
		// volumes are.
		simCase{name: "denied default still decides the volumes", setup: withVolume(awssim.Volume{Encrypted: true}),
			faults: []awssim.Fault{{Service: "ec2", Action: "GetEbsEncryptionByDefault", Kind: awssim.AccessDenied}},
			check:  checkEBSVolumeEncrypted, resource: testVolumeARN, status: finding.Pass}))
}

func TestEBSVolumeEncrypted(t *testing.T) {
	runSimCases(t, append([]simCase{
		{name: "encrypted volume passes", setup: withVolume(awssim.Volume{Encrypted: true}),
			check: checkEBSVolumeEncrypted, resource: testVolumeARN, status: finding.Pass, observed: map[string]any{"encrypted": true}},
		{name: "unencrypted volume fails", setup: withVolume(awssim.Volume{}),
			check: checkEBSVolumeEncrypted, resource: testVolumeARN, status: finding.Fail, observed: map[string]any{"encrypted": false}},
		{name: "every volume is located", setup: withVolume(awssim.Volume{}),
			config: func(c *Config) { c.AllowedRegions = []string{"eu-west-1"} },
			check:  LocationCheck, resource: testVolumeARN, status: finding.Pass},
		{name: "volume outside the allowed regions fails location", setup: withVolume(awssim.Volume{Encrypted: true}),
			config: func(c *Config) { c.AllowedRegions = []string{"eu-central-1"} },
			check:  LocationCheck, resource: testVolumeARN, status: finding.Fail, observed: map[string]any{"region": "eu-west-1"}},
		{name: "region without volumes is not applicable",
			check: checkEBSVolumeEncrypted, resource: "*", status: finding.NotApplicable, detail: "no EBS volumes"},
	}, ec2Faults(withVolume(awssim.Volume{Encrypted: true}), "DescribeVolumes", checkEBSVolumeEncrypted, "*")...))
}

func TestEBSVolumesArePaged(t *testing.T) {
	e := testEstate()
	n := 2*ec2PageSize + 7
	for i := range n {
		mainRegion(e).Volumes = append(mainRegion(e).Volumes, awssim.Volume{ID: fmt.Sprintf("vol-%017x", i), Encrypted: i%4 != 0, SizeGiB: 8})
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if calls := sim.Calls("ec2", "DescribeVolumes"); calls != 3 {
		t.Errorf("DescribeVolumes called %d times, want 3 pages", calls)
	}
	fails := 0
	for _, f := range rec.Of(checkEBSVolumeEncrypted, "") {
		if f.Status == finding.Fail {
			fails++
		}
	}
	if got := len(rec.Of(checkEBSVolumeEncrypted, "")); got != n {
		t.Errorf("%d volume findings, want %d", got, n)
	}
	if want := (n + 3) / 4; fails != want {
		t.Errorf("%d unencrypted volumes found, want %d", fails, want)
	}
}

func TestSecurityGroupAdminPorts(t *testing.T) {
	tcp := func(from, to int, cidrs ...string) awssim.Rule {
		return awssim.Rule{Protocol: "tcp", FromPort: from, ToPort: to, CIDRs: cidrs}
	}
	fail := func(name string, r awssim.Rule, observed map[string]any) simCase {
		return simCase{name: name, setup: withIngress(r), check: checkSGAdminPorts, resource: testGroupARN, status: finding.Fail,
			observed: map[string]any{"rule": observed}}
	}
	pass := func(name string, rs ...awssim.Rule) simCase {
		return simCase{name: name, setup: withIngress(rs...), check: checkSGAdminPorts, resource: testGroupARN, status: finding.Pass}
	}
	runSimCases(t, append([]simCase{
		pass("HTTPS from the internet passes", tcp(443, 443, "0.0.0.0/0")),
		pass("SSH from a private range passes", tcp(22, 22, "10.0.0.0/8")),
		pass("ICMP from the internet passes", awssim.Rule{Protocol: "icmp", FromPort: -1, ToPort: -1, CIDRs: []string{"0.0.0.0/0"}}),
		pass("group without ingress passes"),
		fail("SSH from the internet fails", tcp(22, 22, "10.0.0.0/8", "0.0.0.0/0"),
			map[string]any{"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "source": "0.0.0.0/0"}),
		fail("RDP from the IPv6 internet fails", awssim.Rule{Protocol: "tcp", FromPort: 3389, ToPort: 3389, CIDRv6s: []string{"::/0"}},
			map[string]any{"ip_protocol": "tcp", "from_port": 3389, "to_port": 3389, "source": "::/0"}),
		fail("port range spanning SSH fails", tcp(20, 25, "0.0.0.0/0"),
			map[string]any{"ip_protocol": "tcp", "from_port": 20, "to_port": 25, "source": "0.0.0.0/0"}),
		fail("all traffic from the internet fails", awssim.Rule{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}},
			map[string]any{"ip_protocol": "-1", "source": "0.0.0.0/0"}),
		fail("RDP over UDP from the internet fails", awssim.Rule{Protocol: "udp", FromPort: 3389, ToPort: 3389, CIDRs: []string{"0.0.0.0/0"}},
			map[string]any{"ip_protocol": "udp", "from_port": 3389, "to_port": 3389, "source": "0.0.0.0/0"}),
		{name: "region without security groups is not applicable",
			check: checkSGAdminPorts, resource: "*", status: finding.NotApplicable, detail: "no security groups"},
	}, ec2Faults(withIngress(tcp(443, 443, "0.0.0.0/0")), "DescribeSecurityGroups", checkSGAdminPorts, "*")...))
}

func TestSecurityGroupAllPorts(t *testing.T) {
	rule := func(proto string, from, to int, cidr string) awssim.Rule {
		return awssim.Rule{Protocol: proto, FromPort: from, ToPort: to, CIDRs: []string{cidr}}
	}
	runSimCases(t, append([]simCase{
		{name: "all traffic from the internet fails", setup: withIngress(rule("-1", 0, 0, "0.0.0.0/0")),
			check: checkSGAllPorts, resource: testGroupARN, status: finding.Fail,
			observed: map[string]any{"rule": map[string]any{"ip_protocol": "-1", "source": "0.0.0.0/0"}}},
		{name: "every TCP port from the internet fails", setup: withIngress(rule("tcp", 0, 65535, "0.0.0.0/0")),
			check: checkSGAllPorts, resource: testGroupARN, status: finding.Fail,
			observed: map[string]any{"rule": map[string]any{"ip_protocol": "tcp", "from_port": 0, "to_port": 65535, "source": "0.0.0.0/0"}}},
		{name: "SSH alone from the internet passes this check", setup: withIngress(rule("tcp", 22, 22, "0.0.0.0/0")),
			check: checkSGAllPorts, resource: testGroupARN, status: finding.Pass},
		{name: "all traffic from a private range passes", setup: withIngress(rule("-1", 0, 0, "172.16.0.0/12")),
			check: checkSGAllPorts, resource: testGroupARN, status: finding.Pass},
		{name: "region without security groups is not applicable",
			check: checkSGAllPorts, resource: "*", status: finding.NotApplicable, detail: "no security groups"},
	}, ec2Faults(withIngress(rule("tcp", 443, 443, "0.0.0.0/0")), "DescribeSecurityGroups", checkSGAllPorts, "*")...))
}

func TestSecurityGroupsArePaged(t *testing.T) {
	e := testEstate()
	n := ec2PageSize + 1
	for i := range n {
		sg := awssim.SecurityGroup{ID: fmt.Sprintf("sg-%017x", i), Name: fmt.Sprintf("g%d", i)}
		if i == n-1 {
			// The last group, on the second page, is the open one.
			sg.Ingress = []awssim.Rule{{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []string{"0.0.0.0/0"}}}
		}
		mainRegion(e).SecurityGroups = append(mainRegion(e).SecurityGroups, sg)
	}
	c, sim := startSim(t, e, nil)
	rec := collect(t, c)
	if calls := sim.Calls("ec2", "DescribeSecurityGroups"); calls != 2 {
		t.Errorf("DescribeSecurityGroups called %d times, want 2 pages", calls)
	}
	if got := len(rec.Of(checkSGAdminPorts, "")); got != n {
		t.Errorf("%d admin-port findings, want %d", got, n)
	}
	last := fmt.Sprintf("arn:aws:ec2:eu-west-1:111111111111:security-group/sg-%017x", n-1)
	if f := rec.One(t, checkSGAdminPorts, last); f.Status != finding.Fail {
		t.Errorf("open group on the second page = %s, want fail", f.Status)
	}
}

func TestVPCFlowLogs(t *testing.T) {
	runSimCases(t, append(append([]simCase{
		{name: "active flow log passes", setup: withVPC(true),
			check: checkVPCFlowLogs, resource: testVPCARN, status: finding.Pass,
			observed: map[string]any{"flow_log_id": "fl-0123456789abcdef0", "flow_log_status": "ACTIVE"}},
		{name: "VPC without flow log fails", setup: withVPC(false),
			check: checkVPCFlowLogs, resource: testVPCARN, status: finding.Fail, observed: map[string]any{"flow_logs": []any{}}},
		{name: "every VPC is located", setup: withVPC(false),
			config: func(c *Config) { c.AllowedRegions = []string{"eu-west-1"} },
			check:  LocationCheck, resource: testVPCARN, status: finding.Pass},
		{name: "region without VPCs is not applicable",
			check: checkVPCFlowLogs, resource: "*", status: finding.NotApplicable, detail: "no VPCs"},
	}, ec2Faults(withVPC(true), "DescribeVpcs", checkVPCFlowLogs, "*")...),
		ec2Faults(withVPC(true), "DescribeFlowLogs", checkVPCFlowLogs, testVPCARN)...))
}

func TestVPCFlowLogsArePaged(t *testing.T) {
	e := testEstate()
	n := 2*vpcPageSize + 5
	for i := range n {
		mainRegion(e).VPCs = append(mainRegion(e).VPCs, awssim.VPC{ID: fmt.Sprintf("vpc-%017x", i), FlowLogs: i%2 == 0})
	}
	c, sim := startSim(t, e, nil)
	// The first page's flow logs cannot be read; the later pages must still
	// be decided.
	sim.Inject(awssim.Fault{Service: "ec2", Action: "DescribeFlowLogs", Kind: awssim.Throttle, Times: 1})
	rec := collect(t, c)
	if calls := sim.Calls("ec2", "DescribeVpcs"); calls != 3 {
		t.Errorf("DescribeVpcs called %d times, want 3 pages", calls)
	}
	count := map[finding.Status]int{}
	for _, f := range rec.Of(checkVPCFlowLogs, "") {
		count[f.Status]++
	}
	decided := n - vpcPageSize
	want := map[finding.Status]int{finding.NotAssessed: vpcPageSize, finding.Pass: (decided + 1) / 2, finding.Fail: decided / 2}
	for status, w := range want {
		if count[status] != w {
			t.Errorf("%d VPCs %s, want %d (all: %v)", count[status], status, w, count)
		}
	}
}
