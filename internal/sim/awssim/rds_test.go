package awssim_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"

	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
)

func rdsEstate(n int) *awssim.Estate {
	r := &awssim.Region{Name: "eu-west-1"}
	for i := range n {
		r.DBInstances = append(r.DBInstances, awssim.DBInstance{ID: fmt.Sprintf("db-%02d", i), Engine: "postgres",
			StorageEncrypted: i%2 == 0, PubliclyAccessible: i == 1, BackupRetention: i})
	}
	return &awssim.Estate{Accounts: []*awssim.Account{{ID: "111111111111", Regions: map[string]*awssim.Region{"eu-west-1": r}}}}
}

func TestRDSDescribeDBInstancesPages(t *testing.T) {
	client := rds.NewFromConfig(serve(t, rdsEstate(45), "111111111111"))
	var seen int
	pages := 0
	p := rds.NewDescribeDBInstancesPaginator(client, &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(20)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		pages++
		for _, db := range out.DBInstances {
			i := seen
			seen++
			id := fmt.Sprintf("db-%02d", i)
			if aws.ToString(db.DBInstanceIdentifier) != id ||
				aws.ToString(db.DBInstanceArn) != "arn:aws:rds:eu-west-1:111111111111:db:"+id ||
				aws.ToString(db.Engine) != "postgres" ||
				aws.ToBool(db.StorageEncrypted) != (i%2 == 0) ||
				aws.ToBool(db.PubliclyAccessible) != (i == 1) ||
				int(aws.ToInt32(db.BackupRetentionPeriod)) != i {
				t.Errorf("instance %d: %+v", i, db)
			}
		}
	}
	if seen != 45 || pages != 3 {
		t.Errorf("got %d instances in %d pages, want 45 in 3", seen, pages)
	}
}

func TestRDSRejectsPageSizesAWSRejects(t *testing.T) {
	client := rds.NewFromConfig(serve(t, rdsEstate(1), "111111111111"))
	_, err := client.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(5)})
	if code := errorCode(err); code != "InvalidParameterValue" {
		t.Errorf("MaxRecords 5: got %v, want InvalidParameterValue", err)
	}
}
