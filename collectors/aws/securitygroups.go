package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Security group check IDs.
const (
	checkSGAdminPorts = "aws.ec2.sg_admin_ports_open"
	checkSGAllPorts   = "aws.ec2.sg_all_ports_open"
)

// adminPorts are the remote administration ports no group should open to
// the internet: SSH and RDP.
func adminPorts() []int32 { return []int32{22, 3389} }

// securityGroupScanner checks every security group for ingress open to the
// whole internet on an administration port or on every port.
func securityGroupScanner() scanner {
	return scanner{
		service: "ec2",
		area:    "security_groups",
		global:  false,
		checks:  []string{checkSGAdminPorts, checkSGAllPorts},
		scan: func(ctx context.Context, s *scope) error {
			return scanSecurityGroups(ctx, s, ec2.NewFromConfig(s.cfg))
		},
	}
}

func scanSecurityGroups(ctx context.Context, s *scope, c ec2.DescribeSecurityGroupsAPIClient) error {
	n := 0
	p := ec2.NewDescribeSecurityGroupsPaginator(c, &ec2.DescribeSecurityGroupsInput{},
		func(o *ec2.DescribeSecurityGroupsPaginatorOptions) { o.Limit = ec2PageSize })
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list security groups in %s of %s: %w", s.region, s.account, err)
		}
		for _, g := range out.SecurityGroups {
			n++
			if err := checkSecurityGroup(ctx, s, g); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		for _, check := range []string{checkSGAdminPorts, checkSGAllPorts} {
			if err := s.notApplicable(ctx, check, "*", s.region, "no security groups in this region"); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkSecurityGroup(ctx context.Context, s *scope, g types.SecurityGroup) error {
	arn := ec2ARN(s, "security-group/"+aws.ToString(g.GroupId))
	var admin, all map[string]any
	for _, p := range g.IpPermissions {
		for _, cidr := range worldSources(p) {
			if admin == nil && opensAdminPort(p) {
				admin = ruleExcerpt(p, cidr)
			}
			if all == nil && opensAllPorts(p) {
				all = ruleExcerpt(p, cidr)
			}
		}
	}
	if err := worldRuleVerdict(ctx, s, checkSGAdminPorts, arn, admin,
		"group admits the internet to SSH or RDP", "group admits no one from the internet to SSH or RDP"); err != nil {
		return err
	}
	return worldRuleVerdict(ctx, s, checkSGAllPorts, arn, all,
		"group admits the internet on every port", "group admits no one from the internet on every port")
}

// worldRuleVerdict fails when an offending rule was found, whose excerpt is
// the evidence; a pass has no rule to show.
func worldRuleVerdict(ctx context.Context, s *scope, check, arn string, rule map[string]any, fail, pass string) error {
	if rule != nil {
		return s.verdict(ctx, check, arn, s.region, false, fail, map[string]any{"rule": rule})
	}
	return s.verdict(ctx, check, arn, s.region, true, pass, map[string]any{"open_rule": false})
}

// worldSources returns the rule's sources that are the whole internet.
func worldSources(p types.IpPermission) []string {
	var out []string
	for _, r := range p.IpRanges {
		if aws.ToString(r.CidrIp) == "0.0.0.0/0" {
			out = append(out, "0.0.0.0/0")
		}
	}
	for _, r := range p.Ipv6Ranges {
		if aws.ToString(r.CidrIpv6) == "::/0" {
			out = append(out, "::/0")
		}
	}
	return out
}

// allTraffic reports whether a rule is for every protocol, which EC2
// spells -1 and which ignores the port range.
func allTraffic(p types.IpPermission) bool { return aws.ToString(p.IpProtocol) == "-1" }

// portProtocol reports whether a rule's port range means ports: TCP and
// UDP, by name or number. ICMP reuses the fields for types and codes.
func portProtocol(p types.IpPermission) bool {
	switch aws.ToString(p.IpProtocol) {
	case "tcp", "udp", "6", "17":
		return true
	}
	return false
}

func opensAdminPort(p types.IpPermission) bool {
	if allTraffic(p) {
		return true
	}
	if !portProtocol(p) {
		return false
	}
	from, to := aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
	for _, port := range adminPorts() {
		if from <= port && port <= to {
			return true
		}
	}
	return false
}

func opensAllPorts(p types.IpPermission) bool {
	if allTraffic(p) {
		return true
	}
	return portProtocol(p) && aws.ToInt32(p.FromPort) <= 0 && aws.ToInt32(p.ToPort) >= 65535
}

// ruleExcerpt is the part of an ingress rule that shows it is open.
func ruleExcerpt(p types.IpPermission, cidr string) map[string]any {
	m := map[string]any{"ip_protocol": aws.ToString(p.IpProtocol), "source": cidr}
	if p.FromPort != nil {
		m["from_port"] = int(aws.ToInt32(p.FromPort))
	}
	if p.ToPort != nil {
		m["to_port"] = int(aws.ToInt32(p.ToPort))
	}
	return m
}
