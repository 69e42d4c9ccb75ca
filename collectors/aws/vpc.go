package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const checkVPCFlowLogs = "aws.ec2.vpc_flow_logs"

// vpcPageSize is how many VPCs one page holds. Their flow logs are then
// asked for in one filtered call, and EC2 takes at most 200 values in a
// filter.
const vpcPageSize = 100

// vpcAPI names the EC2 calls the VPC check makes.
type vpcAPI interface {
	ec2.DescribeVpcsAPIClient
	ec2.DescribeFlowLogsAPIClient
}

// vpcScanner checks that every VPC records its traffic in an active flow
// log.
func vpcScanner() scanner {
	return scanner{
		service: "ec2",
		area:    "vpc",
		global:  false,
		checks:  []string{checkVPCFlowLogs},
		scan: func(ctx context.Context, s *scope) error {
			return scanVPCs(ctx, s, ec2.NewFromConfig(s.cfg))
		},
	}
}

func scanVPCs(ctx context.Context, s *scope, c vpcAPI) error {
	n := 0
	p := ec2.NewDescribeVpcsPaginator(c, &ec2.DescribeVpcsInput{}, func(o *ec2.DescribeVpcsPaginatorOptions) { o.Limit = vpcPageSize })
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list VPCs in %s of %s: %w", s.region, s.account, err)
		}
		n += len(out.Vpcs)
		if err := checkFlowLogs(ctx, s, c, out.Vpcs); err != nil {
			return err
		}
	}
	if n == 0 {
		return s.notApplicable(ctx, checkVPCFlowLogs, "*", s.region, "no VPCs in this region")
	}
	return nil
}

// checkFlowLogs decides one page of VPCs with a single flow log listing
// filtered to them, so the work stays proportional to the page. When that
// listing fails, the page's VPCs are not assessed and the next page is
// still tried.
func checkFlowLogs(ctx context.Context, s *scope, c vpcAPI, vpcs []types.Vpc) error {
	if len(vpcs) == 0 {
		return nil
	}
	ids := make([]string, 0, len(vpcs))
	for _, v := range vpcs {
		ids = append(ids, aws.ToString(v.VpcId))
	}
	logs := map[string][]types.FlowLog{}
	in := &ec2.DescribeFlowLogsInput{Filter: []types.Filter{{Name: aws.String("resource-id"), Values: ids}}}
	p := ec2.NewDescribeFlowLogsPaginator(c, in, func(o *ec2.DescribeFlowLogsPaginatorOptions) { o.Limit = ec2PageSize })
	var listErr error
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			listErr = fmt.Errorf("list flow logs of VPCs in %s of %s: %w", s.region, s.account, err)
			break
		}
		for _, fl := range out.FlowLogs {
			id := aws.ToString(fl.ResourceId)
			logs[id] = append(logs[id], fl)
		}
	}
	for _, id := range ids {
		arn := ec2ARN(s, "vpc/"+id)
		if err := s.located(ctx, arn, s.region); err != nil {
			return err
		}
		var err error
		if listErr != nil {
			err = s.notAssessed(ctx, checkVPCFlowLogs, arn, s.region, listErr)
		} else {
			err = flowLogVerdict(ctx, s, arn, logs[id])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func flowLogVerdict(ctx context.Context, s *scope, arn string, logs []types.FlowLog) error {
	var seen []any
	for _, fl := range logs {
		status := aws.ToString(fl.FlowLogStatus)
		if status == "ACTIVE" {
			return s.verdict(ctx, checkVPCFlowLogs, arn, s.region, true, "an active flow log records the VPC's traffic",
				map[string]any{"flow_log_id": aws.ToString(fl.FlowLogId), "flow_log_status": status})
		}
		seen = append(seen, map[string]any{"flow_log_id": aws.ToString(fl.FlowLogId), "flow_log_status": status})
	}
	detail := "no flow log records the VPC's traffic"
	if len(seen) > 0 {
		detail = "the VPC's flow logs are not active"
	}
	return s.verdict(ctx, checkVPCFlowLogs, arn, s.region, false, detail, map[string]any{"flow_logs": append([]any{}, seen...)})
}
