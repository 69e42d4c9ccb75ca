package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// EBS check IDs.
const (
	checkEBSDefaultEncryption = "aws.ec2.ebs_default_encryption"
	checkEBSVolumeEncrypted   = "aws.ec2.ebs_volume_encrypted"
)

// ec2PageSize is the MaxResults of EC2 Describe calls: the most
// DescribeVolumes accepts, well inside the others' limits.
const ec2PageSize = 500

// ebsAPI names the EC2 calls the EBS checks make.
type ebsAPI interface {
	ec2.DescribeVolumesAPIClient
	GetEbsEncryptionByDefault(ctx context.Context, in *ec2.GetEbsEncryptionByDefaultInput, optFns ...func(*ec2.Options)) (*ec2.GetEbsEncryptionByDefaultOutput, error)
}

// ebsScanner checks that the region encrypts new EBS volumes by default and
// that every existing volume is encrypted.
func ebsScanner() scanner {
	return scanner{
		service: "ec2",
		area:    "ebs",
		global:  false,
		checks:  []string{checkEBSDefaultEncryption, checkEBSVolumeEncrypted},
		scan: func(ctx context.Context, s *scope) error {
			return scanEBS(ctx, s, ec2.NewFromConfig(s.cfg))
		},
	}
}

func scanEBS(ctx context.Context, s *scope, c ebsAPI) error {
	// Volumes first: when they cannot be listed the whole scope is not
	// assessed, and no default-encryption verdict should stand beside that.
	n := 0
	p := ec2.NewDescribeVolumesPaginator(c, &ec2.DescribeVolumesInput{}, func(o *ec2.DescribeVolumesPaginatorOptions) { o.Limit = ec2PageSize })
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list EBS volumes in %s of %s: %w", s.region, s.account, err)
		}
		for _, v := range out.Volumes {
			n++
			id := aws.ToString(v.VolumeId)
			arn := ec2ARN(s, "volume/"+id)
			if err := s.located(ctx, arn, s.region); err != nil {
				return err
			}
			encrypted := aws.ToBool(v.Encrypted)
			detail := "volume is encrypted at rest"
			if !encrypted {
				detail = "volume is not encrypted at rest"
			}
			if err := s.verdict(ctx, checkEBSVolumeEncrypted, arn, s.region, encrypted, detail, map[string]any{"encrypted": encrypted}); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		if err := s.notApplicable(ctx, checkEBSVolumeEncrypted, "*", s.region, "no EBS volumes in this region"); err != nil {
			return err
		}
	}

	arn := ec2ARN(s, "ebs-default-encryption")
	out, err := c.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil {
		return s.notAssessed(ctx, checkEBSDefaultEncryption, arn, s.region,
			fmt.Errorf("get EBS default encryption in %s of %s: %w", s.region, s.account, err))
	}
	on := aws.ToBool(out.EbsEncryptionByDefault)
	detail := "new EBS volumes in this region are encrypted by default"
	if !on {
		detail = "new EBS volumes in this region are not encrypted unless asked"
	}
	return s.verdict(ctx, checkEBSDefaultEncryption, arn, s.region, on, detail, map[string]any{"ebs_encryption_by_default": on})
}

// ec2ARN is the ARN of an EC2 resource in the scope's region and account.
func ec2ARN(s *scope, resource string) string {
	return "arn:aws:ec2:" + s.region + ":" + s.account + ":" + resource
}
