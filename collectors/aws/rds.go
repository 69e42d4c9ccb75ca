package aws

import (
	"context"
	"errors"
)

// rdsScanner checks rDS: storage encryption, public accessibility, backup retention.
//
// Not built yet: it reports every check as not assessed.
func rdsScanner() scanner {
	return scanner{
		service: "rds",
		global:  false,
		checks:  []string{"aws.rds.storage_encrypted", "aws.rds.public_access", "aws.rds.backup_retention"},
		scan: func(ctx context.Context, s *scope) error {
			return errors.New("rds checks are not built yet")
		},
	}
}
