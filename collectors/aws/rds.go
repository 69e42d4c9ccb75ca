package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// RDS check IDs.
const (
	checkRDSEncrypted = "aws.rds.storage_encrypted"
	checkRDSPublic    = "aws.rds.public_access"
	checkRDSBackup    = "aws.rds.backup_retention"
)

// minBackupRetention is the shortest automated backup retention, in days,
// that passes: a week lets a problem found after a weekend still be rolled
// back.
const minBackupRetention = 7

// rdsPageSize is how many instances one DescribeDBInstances page asks for,
// the most RDS allows.
const rdsPageSize = 100

// rdsScanner checks RDS: storage encryption, public accessibility, backup
// retention.
func rdsScanner() scanner {
	return scanner{
		service: "rds",
		global:  false,
		checks:  []string{checkRDSEncrypted, checkRDSPublic, checkRDSBackup},
		scan: func(ctx context.Context, s *scope) error {
			return scanRDS(ctx, s, rds.NewFromConfig(s.cfg))
		},
	}
}

// scanRDS needs nothing beyond the listing itself, so it judges each page
// as it arrives.
func scanRDS(ctx context.Context, s *scope, api rds.DescribeDBInstancesAPIClient) error {
	n := 0
	p := rds.NewDescribeDBInstancesPaginator(api, &rds.DescribeDBInstancesInput{}, func(o *rds.DescribeDBInstancesPaginatorOptions) { o.Limit = rdsPageSize })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describe RDS DB instances in %s: %w", s.region, err)
		}
		for _, db := range page.DBInstances {
			n++
			if err := rdsInstance(ctx, s, db); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		for _, check := range []string{checkRDSEncrypted, checkRDSPublic, checkRDSBackup} {
			if err := s.notApplicable(ctx, check, "*", "", "no RDS DB instances in this region"); err != nil {
				return err
			}
		}
	}
	return nil
}

func rdsInstance(ctx context.Context, s *scope, db types.DBInstance) error {
	arn := aws.ToString(db.DBInstanceArn)
	if err := s.located(ctx, arn, s.region); err != nil {
		return err
	}
	encrypted := aws.ToBool(db.StorageEncrypted)
	detail := "storage is encrypted at rest"
	if !encrypted {
		detail = "storage, backups and snapshots are not encrypted at rest"
	}
	if err := s.verdict(ctx, checkRDSEncrypted, arn, "", encrypted, detail,
		map[string]any{"storage_encrypted": encrypted}); err != nil {
		return err
	}
	public := aws.ToBool(db.PubliclyAccessible)
	detail = "instance has no public endpoint"
	if public {
		detail = "instance resolves to a public IP address and can be reached from the internet where its security groups allow"
	}
	if err := s.verdict(ctx, checkRDSPublic, arn, "", !public, detail,
		map[string]any{"publicly_accessible": public}); err != nil {
		return err
	}
	days := int(aws.ToInt32(db.BackupRetentionPeriod))
	detail = fmt.Sprintf("automated backups are kept %d days, at least %d", days, minBackupRetention)
	switch {
	case days == 0:
		detail = "automated backups are turned off"
	case days < minBackupRetention:
		detail = fmt.Sprintf("automated backups are kept only %d days, under %d", days, minBackupRetention)
	}
	return s.verdict(ctx, checkRDSBackup, arn, "", days >= minBackupRetention, detail,
		map[string]any{"backup_retention_period": days})
}
