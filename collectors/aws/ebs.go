package aws

import (
	"context"
	"errors"
)

// ebsScanner checks eBS: account default encryption per region and unencrypted volumes.
//
// Not built yet: it reports every check as not assessed.
func ebsScanner() scanner {
	return scanner{
		service: "ec2",
		global:  false,
		checks:  []string{"aws.ec2.ebs_default_encryption", "aws.ec2.ebs_volume_encrypted"},
		scan: func(ctx context.Context, s *scope) error {
			return errors.New("ebs checks are not built yet")
		},
	}
}
