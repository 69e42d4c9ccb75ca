package awssim

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
)

// newEC2Client serves e and returns an EC2 client for its first account in
// eu-west-1.
func newEC2Client(t *testing.T, e *Estate) (*ec2.Client, *Server) {
	t.Helper()
	sim := NewServer(e)
	ts := sim.Start()
	t.Cleanup(ts.Close)
	return ec2.NewFromConfig(simSDKConfig(ts.URL, e.Accounts[0].ID, "eu-west-1")), sim
}

func regionEstate(r *Region) *Estate {
	r.Name = "eu-west-1"
	return &Estate{
		Regions:  []string{"eu-west-1", "eu-central-1"},
		Accounts: []*Account{{ID: "111111111111", Regions: map[string]*Region{"eu-west-1": r}}},
	}
}

func volumes(n int) []Volume {
	var vs []Volume
	for i := range n {
		vs = append(vs, Volume{ID: fmt.Sprintf("vol-%017d", i), Encrypted: i%3 != 0, SizeGiB: 8})
	}
	return vs
}

func TestEC2PagingHonoursMaxResults(t *testing.T) {
	tests := []struct {
		name      string
		volumes   int
		limit     int32
		wantCalls int64
	}{
		{"pages of max results", 12, 5, 3},
		{"exact multiple ends without a token", 10, 5, 2},
		{"default page of fifty", 120, 0, 3},
		{"empty region is one call", 0, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sim := newEC2Client(t, regionEstate(&Region{Volumes: volumes(tt.volumes)}))
			p := ec2.NewDescribeVolumesPaginator(c, &ec2.DescribeVolumesInput{}, func(o *ec2.DescribeVolumesPaginatorOptions) { o.Limit = tt.limit })
			var got []string
			for p.HasMorePages() {
				out, err := p.NextPage(context.Background())
				if err != nil {
					t.Fatalf("DescribeVolumes: %v", err)
				}
				for _, v := range out.Volumes {
					got = append(got, aws.ToString(v.VolumeId))
				}
			}
			var want []string
			for _, v := range volumes(tt.volumes) {
				want = append(want, v.ID)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("volume IDs (-want +got):\n%s", diff)
			}
			if n := sim.Calls("ec2", "DescribeVolumes"); n != tt.wantCalls {
				t.Errorf("DescribeVolumes calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestEC2RejectsBadParameters(t *testing.T) {
	c, _ := newEC2Client(t, regionEstate(&Region{Volumes: volumes(3)}))
	ctx := context.Background()
	tests := map[string]func() error{
		"max results below five": func() error {
			_, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{MaxResults: aws.Int32(4)})
			return err
		},
		"max results above the call's limit": func() error {
			_, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{MaxResults: aws.Int32(501)})
			return err
		},
		"unknown filter": func() error {
			_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"blue"}}}})
			return err
		},
		"foreign next token": func() error {
			_, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{NextToken: aws.String("eyJ2IjoxfQ==")})
			return err
		},
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			if code := errorCode(call()); code != "InvalidParameterValue" {
				t.Errorf("error code = %q, want InvalidParameterValue", code)
			}
		})
	}
	t.Run("operation not simulated", func(t *testing.T) {
		_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if code := errorCode(err); code != "InvalidAction" {
			t.Errorf("error code = %q (%v), want InvalidAction", code, err)
		}
	})
}

func TestEC2FlowLogsFilterByResource(t *testing.T) {
	r := &Region{VPCs: []VPC{{ID: "vpc-a", FlowLogs: true}, {ID: "vpc-b"}, {ID: "vpc-c", FlowLogs: true}, {ID: "vpc-d", FlowLogs: true}}}
	c, _ := newEC2Client(t, regionEstate(r))
	tests := []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"no filter lists every flow log", nil, []string{"vpc-a", "vpc-c", "vpc-d"}},
		{"resource-id keeps the named VPCs", []types.Filter{{Name: aws.String("resource-id"), Values: []string{"vpc-a", "vpc-b", "vpc-d"}}}, []string{"vpc-a", "vpc-d"}},
		{"a VPC without flow logs matches nothing", []types.Filter{{Name: aws.String("resource-id"), Values: []string{"vpc-b"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.DescribeFlowLogs(context.Background(), &ec2.DescribeFlowLogsInput{Filter: tt.filters})
			if err != nil {
				t.Fatalf("DescribeFlowLogs: %v", err)
			}
			var got []string
			for _, fl := range out.FlowLogs {
				if aws.ToString(fl.FlowLogStatus) != "ACTIVE" {
					t.Errorf("flow log %s status %q, want ACTIVE", aws.ToString(fl.FlowLogId), aws.ToString(fl.FlowLogStatus))
				}
				got = append(got, aws.ToString(fl.ResourceId))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("flow log resources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEC2SecurityGroupRulesRoundTrip(t *testing.T) {
	r := &Region{SecurityGroups: []SecurityGroup{{ID: "sg-1", Name: "mixed", VPCID: "vpc-1", Ingress: []Rule{
		{Protocol: "tcp", FromPort: 20, ToPort: 25, CIDRs: []string{"0.0.0.0/0", "10.0.0.0/8"}},
		{Protocol: "-1", CIDRv6s: []string{"::/0"}},
	}}}}
	c, _ := newEC2Client(t, regionEstate(r))
	out, err := c.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatalf("DescribeSecurityGroups: %v", err)
	}
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("got %d groups, want 1", len(out.SecurityGroups))
	}
	type rule struct {
		Proto      string
		From, To   *int32
		CIDR, CIv6 []string
	}
	var got []rule
	for _, p := range out.SecurityGroups[0].IpPermissions {
		r := rule{Proto: aws.ToString(p.IpProtocol), From: p.FromPort, To: p.ToPort}
		for _, x := range p.IpRanges {
			r.CIDR = append(r.CIDR, aws.ToString(x.CidrIp))
		}
		for _, x := range p.Ipv6Ranges {
			r.CIv6 = append(r.CIv6, aws.ToString(x.CidrIpv6))
		}
		got = append(got, r)
	}
	want := []rule{
		{Proto: "tcp", From: aws.Int32(20), To: aws.Int32(25), CIDR: []string{"0.0.0.0/0", "10.0.0.0/8"}},
		{Proto: "-1", CIv6: []string{"::/0"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ingress rules (-want +got):\n%s", diff)
	}
	if g := out.SecurityGroups[0]; aws.ToString(g.VpcId) != "vpc-1" || aws.ToString(g.OwnerId) != "111111111111" {
		t.Errorf("group vpc %q owner %q, want vpc-1 and 111111111111", aws.ToString(g.VpcId), aws.ToString(g.OwnerId))
	}
}

func TestEC2RegionSettings(t *testing.T) {
	c, _ := newEC2Client(t, regionEstate(&Region{EBSDefaultEncryption: true}))
	ctx := context.Background()
	regions, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatalf("DescribeRegions: %v", err)
	}
	var names []string
	for _, r := range regions.Regions {
		names = append(names, aws.ToString(r.RegionName))
	}
	if diff := cmp.Diff([]string{"eu-west-1", "eu-central-1"}, names); diff != "" {
		t.Errorf("regions (-want +got):\n%s", diff)
	}
	ebs, err := c.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil {
		t.Fatalf("GetEbsEncryptionByDefault: %v", err)
	}
	if !aws.ToBool(ebs.EbsEncryptionByDefault) {
		t.Error("EBS encryption by default = false, want true")
	}
	// A region the account has no resources in answers as an empty one.
	vols, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{}, func(o *ec2.Options) { o.Region = "eu-central-1" })
	if err != nil || len(vols.Volumes) != 0 {
		t.Errorf("DescribeVolumes in an unused region = %d volumes, %v; want none and no error", len(vols.Volumes), err)
	}
}
